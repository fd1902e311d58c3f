"""`sorter` command line: trial (the main job), launch, params, bench, bag (record, play,
repair, info, golden, regress) and xray (the generator: dataset, figure, bench, ...)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from sorter.cell.description import CellDescriptionError, load_cell


def parse_overrides(items: list[str]) -> dict[str, Any]:
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set expects section.key=value, got {item!r}")
        overrides[key] = yaml.safe_load(value)
    return overrides


DEFAULT_TRIAL = Path(__file__).resolve().parents[3] / "sim" / "trials" / "default.yaml"


def load_trial(path: str | Path) -> dict[str, Any]:
    """A trial definition: duration and cell overrides (sim/trials/*.yaml)."""
    try:
        trial = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise SystemExit(f"cannot read trial definition {path}: {err}") from err
    if not isinstance(trial, dict) or "duration_s" not in trial:
        raise SystemExit(f"trial definition {path} needs duration_s (and optional overrides)")
    return trial


def cmd_trial(args: argparse.Namespace) -> int:
    from sorter.trial.report import print_summary, summarise, write_report
    from sorter.trial.runner import isolate_ros_domain, run_trial

    trial = load_trial(args.trial)
    overrides = {**trial.get("overrides", {}), **parse_overrides(args.set)}
    duration = float(args.duration if args.duration is not None else trial["duration_s"])
    cell = load_cell(args.cell, overrides)
    run_dir = Path(args.out or f"results/trial-{time.strftime('%Y%m%d-%H%M%S')}")
    domain = isolate_ros_domain()
    print(f"trial {args.trial}: {cell['cell']['name']}, {duration:.0f} s, ROS domain {domain} "
          f"(localhost only), results in {run_dir}")
    result = run_trial(cell, duration, run_dir, seed=args.seed)
    summary = summarise(result)
    report = write_report(result, summary)
    print_summary(summary, report)
    return 0


def cmd_launch(args: argparse.Namespace) -> int:
    from sorter.launching.launcher import launch_forever, write_effective_cell
    from sorter.launching.specs import cell_node_specs

    run_dir = Path(args.out or f"results/launch-{time.strftime('%Y%m%d-%H%M%S')}")
    cell = write_effective_cell(load_cell(args.cell, parse_overrides(args.set)), run_dir)
    specs = cell_node_specs(cell, driver=args.driver, simulate=not args.no_sim)
    return launch_forever(specs, run_dir)


def cmd_params(args: argparse.Namespace) -> int:
    from sorter.cell.parameters import node_parameters

    cell = load_cell(args.cell, parse_overrides(args.set))
    body = {n: {"ros__parameters": v} for n, v in node_parameters(cell, args.driver).items()}
    sys.stdout.write(yaml.safe_dump(body, sort_keys=False))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from sorter.bench import main as bench_main

    return bench_main(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sorter", description=__doc__)
    parser.add_argument("--cell", help="cell description YAML (default config/cell.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one cell fact for this run, e.g. belt.speed_m_s=3")
    sub = parser.add_subparsers(dest="command", required=True)

    trial = sub.add_parser("trial", help="run a simulated sorting trial and report it")
    trial.add_argument("--trial", default=str(DEFAULT_TRIAL), help="trial definition YAML")
    trial.add_argument("--duration", type=float, default=None,
                       help="seconds of feed (default: the trial definition's)")
    trial.add_argument("--seed", type=int, default=None, help="simulator seed (default: cell)")
    trial.add_argument("--out", help="results folder")
    trial.set_defaults(func=cmd_trial)

    launch = sub.add_parser("launch", help="run the cell (each node its own process)")
    launch.add_argument("--driver", default="sim")
    launch.add_argument("--no-sim", action="store_true", help="do not start sim_world")
    launch.add_argument("--out", help="folder for logs and the parameter file")
    launch.set_defaults(func=cmd_launch)

    params = sub.add_parser("params", help="print the node parameters the cell yields")
    params.add_argument("--driver", default="sim")
    params.set_defaults(func=cmd_params)

    bench = sub.add_parser("bench", help="per-stage timing and scan->command latency")
    bench.add_argument("--strips", type=int, default=200, help="strips to time per stage")
    bench.add_argument("--live-seconds", type=float, default=15.0,
                       help="seconds of feed in the live latency run (0 skips it)")
    bench.set_defaults(func=cmd_bench)

    from sorter.bag.cli import add_bag_parser  # `sorter bag ...` (issue 5)

    add_bag_parser(sub)

    from sorter.xrt_generator.cli import add_xray_parser  # `sorter xray ...` (issue 4)

    add_xray_parser(sub)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CellDescriptionError as err:
        print(f"sorter: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
