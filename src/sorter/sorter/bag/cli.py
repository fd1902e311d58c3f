"""`sorter bag record|play|repair|info|golden|regress`: argument parsing and dispatch.

Heavy imports (rclpy, mcap) happen inside the handlers so that `sorter --help` stays fast. Every
BagError ends as one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from sorter.bag.errors import BagError

DEFAULT_DISCOVERY_WAIT_S = 2.0  # sorter.bag.player's default, without importing rclpy here


def _size(text: str) -> int:
    """'500M', '2G', '1048576' -> bytes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 500M, 2G)") from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: seconds must be >= 0")
    return value


def add_bag_parser(sub: Any) -> None:
    bag = sub.add_parser("bag", help="record, play, repair and inspect rosbag2 (MCAP) bags")
    verbs = bag.add_subparsers(dest="bag_command", required=True)

    rec = verbs.add_parser("record", help="record topics into a rosbag2 MCAP bag")
    rec.add_argument("topics", nargs="*", help="topics to record (e.g. xrt/strip belt/state)")
    rec.add_argument("-a", "--all", action="store_true", help="record every topic found")
    rec.add_argument("-o", "--output", help="bag folder (default rosbag2_<date>-<time>)")
    rec.add_argument("--exclude", help="regex: topics matching it are not recorded")
    rec.add_argument("--include-hidden-topics", action="store_true",
                     help="with --all, also hidden topics (a path element starting with _)")
    rec.add_argument("-b", "--max-bag-size", type=_size, default=0,
                     help="split into a new file at this size (e.g. 500M); 0 = never")
    rec.add_argument("-d", "--max-bag-duration", type=float, default=0.0,
                     help="split into a new file after this many seconds; 0 = never")
    rec.add_argument("--compression", choices=("zstd", "lz4", "none"), default="zstd",
                     help="MCAP chunk compression (default zstd)")
    rec.add_argument("--chunk-size", type=_size, default=1 << 20, help="MCAP chunk size")
    rec.add_argument("--flush-interval", type=float, default=1.0,
                     help="seconds between flushes: the most a crash can lose")
    rec.add_argument("--metadata-version", type=int, choices=(8, 9), default=9,
                     help="rosbag2 metadata version: 9 = Jazzy+ (default), 8 = Humble/Iron")
    rec.add_argument("--qos-depth", type=int, default=500,
                     help="subscription history depth (a burst waits here)")
    rec.add_argument("--use-sim-time", action="store_true", help="log times from /clock")
    rec.add_argument("--max-duration", type=float, default=0.0,
                     help="stop after this many seconds (default: until Ctrl-C)")
    rec.add_argument("--stats", help="write the recording figures (JSON) here at the end")
    rec.add_argument("--ros-args", nargs=argparse.REMAINDER, default=[], dest="ros_args",
                     metavar="ARG", help="ROS arguments for the recorder node (-r, --log-level, "
                                         "...); everything after it is ROS's, so put it last")
    rec.add_argument("--nice", type=int, default=-10,
                     help="scheduling priority to take where permitted (default -10; 0 keeps "
                          "it): a starved recorder misses samples keep-last publishers drop")

    play = verbs.add_parser("play", help="replay a bag with its original timing")
    play.add_argument("bag", help="bag folder or .mcap file")
    play.add_argument("-r", "--rate", type=float, default=1.0, help="time factor (2 = twice)")
    play.add_argument("-l", "--loop", action="store_true", help="start over at the end")
    play.add_argument("--start-offset", type=float, default=0.0,
                      help="skip this many seconds from the bag's start")
    play.add_argument("--topics", nargs="+", help="play only these topics")
    play.add_argument("--exclude", help="regex: topics matching it are not played")
    play.add_argument("--remap", nargs="+", default=[], metavar="FROM:=TO",
                      help="publish a topic under another name")
    play.add_argument("--clock", type=float, nargs="?", const=100.0, default=0.0,
                      metavar="HZ", help="publish /clock (default 100 Hz when given)")
    play.add_argument("--qos-depth", type=int, default=100, help="publisher history depth")
    play.add_argument("--delay", type=float, default=0.0, help="seconds to wait before play")
    play.add_argument("--wait-for-subscribers", type=float, nargs="?", const=30.0,
                      default=0.0, metavar="TIMEOUT",
                      help="wait until every topic has a matched subscriber, and fail if none "
                           "comes within TIMEOUT (default 30 s)")
    play.add_argument("--wait-for-discovery", type=_seconds, default=DEFAULT_DISCOVERY_WAIT_S,
                      metavar="SECONDS",
                      help="before playing, wait at most this long for the subscribers already "
                           "running to be matched (ends as soon as every topic is); 0 starts at "
                           f"once (default {DEFAULT_DISCOVERY_WAIT_S:g})")
    play.add_argument("--ros-args", nargs=argparse.REMAINDER, default=[], dest="ros_args",
                      metavar="ARG", help="ROS arguments for the player node (-r, --log-level, "
                                          "...); everything after it is ROS's, so put it last")

    rep = verbs.add_parser("repair", help="rebuild metadata.yaml after a crash")
    rep.add_argument("bag", help="bag folder")
    rep.add_argument("--force", action="store_true", help="rebuild even if metadata exists")
    rep.add_argument("--keep-original", action="store_true",
                     help="keep unclosed files as <name>.mcap.crashed")
    rep.add_argument("--metadata-version", type=int, choices=(8, 9), default=9,
                     help="rosbag2 metadata version: 9 = Jazzy+ (default), 8 = Humble/Iron")

    info = verbs.add_parser("info", help="what a bag holds (like ros2 bag info)")
    info.add_argument("bag", help="bag folder or .mcap file")
    info.add_argument("--json", action="store_true", help="machine-readable output")

    gold = verbs.add_parser("golden", help="regenerate the golden regression bags")
    gold.add_argument("--out", default=None, help="folder (default tests/golden)")
    gold.add_argument("--name", default="xrt-strips", help="golden name (default xrt-strips)")
    gold.add_argument("--strips", type=int, default=44, help="strips to record")
    gold.add_argument("--force", action="store_true", help="replace an existing golden")

    reg = verbs.add_parser("regress", help="run a golden bag offline and diff its outcomes")
    reg.add_argument("golden", help="golden folder (tests/golden/<name>)")

    bag.set_defaults(func=run_bag_command)


def _record(args: argparse.Namespace) -> int:
    from sorter.bag.recorder import RecordOptions, parse_topics, record_main
    from sorter.bag.rosargs import tool_ros_arguments
    from sorter.bag.writer import WriterOptions

    if not args.topics and not args.all:
        raise BagError("name the topics to record, or --all")
    output = args.output or time.strftime("rosbag2_%Y_%m_%d-%H_%M_%S")
    options = RecordOptions(
        topics=parse_topics(args.topics), all_topics=args.all, exclude=args.exclude,
        include_hidden=args.include_hidden_topics, qos_depth=args.qos_depth,
        use_sim_time=args.use_sim_time, max_duration_s=args.max_duration,
        writer=WriterOptions(split_max_bytes=args.max_bag_size,
                             split_max_duration_s=args.max_bag_duration,
                             compression=args.compression, chunk_size=args.chunk_size,
                             flush_interval_s=args.flush_interval,
                             metadata_version=args.metadata_version))
    return record_main(output, options, args.stats, nice=args.nice,
                       ros_args=tool_ros_arguments(args.ros_args))


def _play(args: argparse.Namespace) -> int:
    from sorter.bag.player import PlayOptions, parse_remaps, play_main
    from sorter.bag.rosargs import tool_ros_arguments

    options = PlayOptions(
        rate=args.rate, loop=args.loop, start_offset_s=args.start_offset, topics=args.topics,
        exclude=args.exclude, remaps=parse_remaps(args.remap), clock_hz=args.clock,
        qos_depth=args.qos_depth, delay_s=args.delay,
        wait_for_subscribers_s=args.wait_for_subscribers,
        wait_for_discovery_s=args.wait_for_discovery)
    return play_main(args.bag, options, ros_args=tool_ros_arguments(args.ros_args))


def _repair(args: argparse.Namespace) -> int:
    from sorter.bag.repair import repair

    report = repair(args.bag, force=args.force, keep_original=args.keep_original,
                    version=args.metadata_version)
    print(report.text())
    return 0


def _info(args: argparse.Namespace) -> int:
    from sorter.bag.info import bag_info, format_info

    summary = bag_info(args.bag)
    print(json.dumps(summary, indent=2) if args.json else format_info(summary))
    return 0


def _golden(args: argparse.Namespace) -> int:
    from sorter.bag.golden import GOLDEN_DIR, GoldenSpec, generate

    generate(GoldenSpec(name=args.name, strips=args.strips),
             Path(args.out) if args.out else GOLDEN_DIR, force=args.force)
    return 0


def _regress(args: argparse.Namespace) -> int:
    from sorter.bag.golden import load_expected
    from sorter.bag.regression import OFFLINE, compare, format_differences, offline_outcomes

    expected, params, bag = load_expected(args.golden)
    now = offline_outcomes(params, bag)
    diffs = compare(expected["particles"], now, OFFLINE)
    print(format_differences(diffs))
    return 1 if diffs else 0


HANDLERS = {"record": _record, "play": _play, "repair": _repair, "info": _info,
            "golden": _golden, "regress": _regress}


def run_bag_command(args: argparse.Namespace) -> int:
    try:
        return HANDLERS[args.bag_command](args)
    except BagError as err:
        print(f"sorter bag {args.bag_command}: {err}", file=sys.stderr)
        return 2
