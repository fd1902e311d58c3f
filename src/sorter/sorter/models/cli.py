"""`sorter models ...` (the learned segmentation models) and `sorter train segmentation`.
Torch is imported by the handlers only, so that `sorter --help` stays fast."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sorter.cli_options import fraction, positive_float, positive_int


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


def cmd_train_segmentation(args: argparse.Namespace) -> int:
    from sorter.models.train import TrainConfig, train

    config = TrainConfig(data=Path(args.data), model=args.model, out=Path(args.out),
                         epochs=args.epochs, batch=args.batch, crop=args.crop, lr=args.lr,
                         threads=args.threads, resume=args.resume, seed=args.seed,
                         max_steps=args.max_steps, patience=args.patience,
                         val_fraction=args.val_fraction, augment=not args.no_augment,
                         progress=not args.quiet)
    try:
        result = train(config)
    except (ValueError, FileNotFoundError) as err:
        print(f"sorter train segmentation: error: {err}", file=sys.stderr)
        return 2
    print(f"trained {args.model}: {result.steps} steps, {result.epochs} epochs complete, best "
          f"validation score {result.best_miou:.4f}; checkpoints in {args.out}")
    return 0


def add_train_parser(sub: Any) -> None:
    train = sub.add_parser("train", help="train a learned segmentation model",
                           description="Train networks on generated training sets.")
    tsub = train.add_subparsers(dest="train_command", required=True, title="train commands",
                                metavar="COMMAND")
    seg = tsub.add_parser(
        "segmentation", help="train a registered model on a training set",
        description="Train a registered segmentation model on a training set from `sorter "
                    "xray training-set`: attenuation input, class-weighted cross-entropy, "
                    "two-space augmentation; SGD with the recipe of Yu et al. by default "
                    "(docs/references.md). Writes last.pt, best.pt (each with its model card), "
                    "last.state.pt and training.json to --out.")
    seg.add_argument("--data", required=True, metavar="DIR", help="training-set folder")
    seg.add_argument("--model", default="mineral_deeplabv3plus_small", metavar="NAME",
                     help="registered model (sorter models list; default "
                          "mineral_deeplabv3plus_small)")
    seg.add_argument("--out", required=True, metavar="DIR", help="folder for checkpoints")
    seg.add_argument("--epochs", type=positive_int, default=100, metavar="N",
                     help="epochs at most (default 100)")
    seg.add_argument("--batch", type=positive_int, default=16, metavar="N",
                     help="crops per batch (default 16)")
    seg.add_argument("--crop", type=positive_int, default=128, metavar="N",
                     help="crop side in pixels (default 128)")
    seg.add_argument("--lr", type=positive_float, default=0.01, metavar="X",
                     help="SGD learning rate, constant (default 0.01; momentum 0.937, weight "
                          "decay 0.0005)")
    seg.add_argument("--threads", type=positive_int, default=None, metavar="N",
                     help="CPU threads for torch (default: torch's own choice)")
    seg.add_argument("--resume", action="store_true",
                     help="continue the run in --out from its last checkpoint")
    seg.add_argument("--seed", type=int, default=0,
                     help="seed of the split, crops, augmentation and weights (default 0)")
    seg.add_argument("--max-steps", type=positive_int, default=None, metavar="N",
                     help="stop after N optimiser steps in all (default: no limit)")
    seg.add_argument("--patience", type=positive_int, default=10, metavar="N",
                     help="stop after N epochs without a better validation mIoU (default 10)")
    seg.add_argument("--val-fraction", type=fraction, default=0.2, metavar="F",
                     help="share of the scenes held out for validation (default 0.2)")
    seg.add_argument("--no-augment", action="store_true", help="train on plain crops")
    seg.add_argument("--quiet", action="store_true", help="no progress bar")
    seg.set_defaults(func=cmd_train_segmentation)
