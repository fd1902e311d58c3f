"""`sorter models ...`: the learned segmentation models. Torch is imported by the handlers
only, so that `sorter --help` stays fast."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_list(args: argparse.Namespace) -> int:
    from sorter.models.registry import get_entry, list_models

    names = list_models()
    width = max(len(n) for n in names)
    for name in names:
        entry = get_entry(name)
        params = "" if args.no_params else f"{entry.parameter_count() / 1e6:7.2f} M  "
        print(f"{name:<{width}}  {params}{entry.description}")
    return 0


def add_models_parser(sub: Any) -> None:
    models = sub.add_parser("models", help="learned segmentation models: registry",
                            description="The registered segmentation networks (two input "
                                        "channels, four output classes).")
    msub = models.add_subparsers(dest="models_command", required=True, title="models commands",
                                 metavar="COMMAND")
    ls = msub.add_parser("list", help="registered models with parameter counts",
                         description="Name, parameters (millions, default config) and summary "
                                     "of every registered model.")
    ls.add_argument("--no-params", action="store_true",
                    help="skip building each model to count its parameters")
    ls.set_defaults(func=cmd_list)
