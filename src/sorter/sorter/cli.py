"""`sorter` command line: trial (the main job), launch, params, bench, bag (record, play,
repair, info, golden, regress), xray (the generator: dataset, figure, bench, ...), models
(the learned segmentation networks) and train (fitting them).

Installed as .venv/bin/sorter by tools/setup.sh (and as lib/sorter/sorter, so that
`ros2 run sorter sorter` works on a colcon install); `python -m sorter.cli` is the same.
Heavy imports happen inside the handlers so that `sorter --help` stays fast."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from sorter.cell.description import CellDescriptionError
from sorter.cli_options import (
    cell_from_args,
    cell_options,
    finish_cell_options,
    non_negative_float,
    one_line,
    positive_float,
    positive_int,
)
from sorter.launching.specs import ParameterSetError, launch_driver_choices

# The drivers a launch may select: those the nodes' schemas offer (belt and feeder).
DRIVERS = launch_driver_choices()


class CliError(Exception):
    """A user error found after parsing: one line on stderr, exit status 2."""


DEFAULT_TRIAL = Path(__file__).resolve().parents[3] / "sim" / "trials" / "default.yaml"


def load_trial(path: str | Path) -> dict[str, Any]:
    """A trial definition: duration and cell overrides (sim/trials/*.yaml)."""
    try:
        trial = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise CliError(f"cannot read trial definition {path}: {err}") from err
    if not isinstance(trial, dict) or "duration_s" not in trial:
        raise CliError(f"trial definition {path} needs duration_s (and optional overrides)")
    if not isinstance(trial.get("overrides", {}), dict):
        raise CliError(f"trial definition {path}: overrides must be a mapping")
    return trial


def cmd_trial(args: argparse.Namespace) -> int:
    from sorter.trial.report import print_summary, summarise, write_report
    from sorter.trial.runner import isolate_ros_domain, run_trial

    trial = load_trial(args.trial)
    duration = float(args.duration if args.duration is not None else trial["duration_s"])
    cell = cell_from_args(args, trial.get("overrides"))
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
    cell = write_effective_cell(cell_from_args(args), run_dir)
    specs = cell_node_specs(cell, driver=args.driver, simulate=not args.no_sim)
    return launch_forever(specs, run_dir)


def cmd_params(args: argparse.Namespace) -> int:
    from sorter.cell.parameters import node_parameters

    cell = cell_from_args(args)
    body = {n: {"ros__parameters": v} for n, v in node_parameters(cell, args.driver).items()}
    sys.stdout.write(yaml.safe_dump(body, sort_keys=False))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from sorter.bench.run import main as bench_main

    return bench_main(args)


EPILOG = """\
examples:
  sorter trial                                  a ~1 minute simulated trial, report in results/
  sorter trial --duration 20 --seed 3
  sorter --set belt.speed_m_s=3 trial           vary one cell fact for this run
  sorter params --cell config/cell_lithium.yaml --driver modbus
  sorter launch                                 the simulated cell until Ctrl-C
  sorter bench --strips 100 --live-seconds 0
  sorter bag info tests/golden/xrt-strips/bag
  sorter xray dataset --out data/cu --scenes 10
  sorter models list                            segmentation networks and their sizes
  sorter train segmentation --data data/train --out results/train
  sorter COMMAND --help                         a command's own options

--cell and --set go before or after the command (trial, launch, params, bench, xray dataset,
bench, calibrate, rtable); a value given after it wins.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sorter", description="Run, simulate and inspect the ore-sorting cell.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[cell_options(before_command=True)])
    sub = parser.add_subparsers(dest="command", required=True, title="commands",
                                metavar="COMMAND")
    cell = [cell_options()]

    trial = sub.add_parser("trial", parents=cell,
                           help="run a simulated sorting trial and report it",
                           description="Run the whole cell against the simulator for a trial "
                                       "definition's duration; write the report and plots.")
    trial.add_argument("--trial", default=str(DEFAULT_TRIAL), metavar="FILE",
                       help="trial definition YAML: duration_s and cell overrides "
                            "(default sim/trials/default.yaml)")
    trial.add_argument("--duration", type=positive_float, default=None, metavar="S",
                       help="seconds of feed (default: the trial definition's)")
    trial.add_argument("--seed", type=int, default=None,
                       help="simulator seed (default: the cell's feed.seed)")
    trial.add_argument("--out", metavar="DIR",
                       help="results folder (default results/trial-<date>-<time>)")
    trial.set_defaults(func=cmd_trial)

    launch = sub.add_parser("launch", parents=cell,
                            help="run the cell, each node its own process, until Ctrl-C",
                            description="Start the cell's nodes (and the simulator) as "
                                        "processes, as `ros2 launch sorter cell.launch.py` does.")
    launch.add_argument("--driver", choices=DRIVERS, default="sim",
                        help="belt and feeder drivers: sim, or modbus (Modbus TCP at the "
                             "cell's io addresses) (default sim)")
    launch.add_argument("--no-sim", action="store_true",
                        help="do not start sim_world (real hardware or an external simulator)")
    launch.add_argument("--out", metavar="DIR",
                        help="folder for logs and the parameter file "
                             "(default results/launch-<date>-<time>)")
    launch.set_defaults(func=cmd_launch)

    params = sub.add_parser("params", parents=cell,
                            help="print the node parameters the cell yields (ROS params YAML)",
                            description="Print every node's parameters, derived from the cell "
                                        "description, as a ROS 2 parameter file.")
    params.add_argument("--driver", choices=DRIVERS, default="sim",
                        help="belt and feeder drivers the parameters select (default sim)")
    params.set_defaults(func=cmd_params)

    bench = sub.add_parser("bench", parents=cell,
                           help="per-stage time per strip and scan->command latency",
                           description="Time each pipeline stage on simulated strips, then "
                                       "measure scan->command latency on the running cell.")
    bench.add_argument("--strips", type=positive_int, default=200,
                       help="strips to time per stage (default 200)")
    bench.add_argument("--live-seconds", type=non_negative_float, default=15.0, metavar="S",
                       help="seconds of feed in the live latency run (default 15; 0 skips it)")
    bench.set_defaults(func=cmd_bench)

    from sorter.bag.cli import add_bag_parser

    add_bag_parser(sub)

    from sorter.xrt_generator.cli import add_xray_parser

    add_xray_parser(sub)

    from sorter.models.cli import add_models_parser, add_train_parser

    add_models_parser(sub)
    add_train_parser(sub)
    return parser


def command_name(args: argparse.Namespace) -> str:
    """'params', 'bag record', 'xray dataset', ..."""
    names = (args.command, getattr(args, "bag_command", None), getattr(args, "xray_command", None),
             getattr(args, "models_command", None), getattr(args, "train_command", None))
    return " ".join(name for name in names if name)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse a command line; a cell-reading subcommand gets `cell` (None = default) and `set`
    (the --set items of both sides). Usage errors exit with status 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return finish_cell_options(parser, args, command_name(args))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return args.func(args)
    except (CellDescriptionError, ParameterSetError, CliError) as err:
        print(f"sorter {command_name(args)}: error: {one_line(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
