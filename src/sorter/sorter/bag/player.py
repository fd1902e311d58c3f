"""`sorter bag play`: republish a bag's serialized messages with their original timing.

How it plays, and why:

* bytes are published as recorded (``publish(bytes)``): no decode/encode, byte-exact replay;
* timing follows the log times: message k is sent at ``wall0 + (t_k - t_start) / rate``, so
  relative timing is kept at any rate (a late process never "catches up" faster than the bag:
  each message waits for its own slot, and one that is already late goes at once);
* ``/clock`` (rosgraph_msgs/Clock) carries the bag's time for nodes run with ``use_sim_time``:
  published at ``clock_hz`` and just before each message with that message's log time, never
  backwards within one pass. Nodes then judge "now" from the bag (the ejector's deadlines,
  stale-sample checks), independent of how late the replay machine is;
* each topic is offered the QoS its publishers offered in the recording (reliability,
  durability, deadline, lifespan, liveliness), with a history depth of the player's own
  (remote publishers' depths are not known to the recorder);
* start offset, loop, topic filter and remaps as ``ros2 bag play`` has them. Looping jumps
  ``/clock`` back to the start at each pass, as rosbag2 does.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sorter.bag.errors import BagError
from sorter.bag.qos_yaml import INFINITE_NS, QosRecord
from sorter.bag.reader import BagReader, absolute_topic
from sorter.bag.recorder import message_class

NODE_NAME = "sorter_bag_player"


@dataclass
class PlayOptions:
    rate: float = 1.0
    loop: bool = False
    start_offset_s: float = 0.0
    topics: list[str] | None = None            # None: all
    exclude: str | None = None                 # regex on the bag's topic name
    remaps: dict[str, str] = field(default_factory=dict)
    clock_hz: float = 0.0                      # 0: no /clock
    qos_depth: int = 100
    delay_s: float = 0.0
    wait_for_subscribers_s: float = 0.0        # 0: do not wait
    node_name: str = NODE_NAME

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise BagError(f"rate must be > 0, got {self.rate}")
        if self.start_offset_s < 0 or self.delay_s < 0 or self.clock_hz < 0:
            raise BagError("start offset, delay and clock rate must be >= 0")
        if self.qos_depth < 1:
            raise BagError("qos depth must be >= 1")


@dataclass
class PlayStats:
    published: dict[str, int]
    passes: int
    wall_s: float
    late_max_s: float   # worst lateness of a message against its slot

    def text(self) -> str:
        total = sum(self.published.values())
        lines = [f"played {total} messages in {self.wall_s:.1f} s ({self.passes} pass(es)); "
                 f"worst lateness {1e3 * self.late_max_s:.1f} ms"]
        lines += [f"  {t}: {n}" for t, n in self.published.items()]
        return "\n".join(lines)


def parse_remaps(items: list[str]) -> dict[str, str]:
    """'from:=to' pairs (ros2 bag play's --remap syntax), names made absolute."""
    remaps = {}
    for item in items:
        source, sep, target = item.partition(":=")
        if not sep or not source or not target:
            raise BagError(f"remap {item!r} must be from:=to")
        remaps[absolute_topic(source)] = absolute_topic(target)
    return remaps


def playback_qos(profiles: list[QosRecord], depth: int) -> Any:
    """What to offer on replay: the recorded profile if all publishers agreed on the
    policies that affect matching, else the rclpy default (reliable, volatile)."""
    from rclpy.duration import Duration
    from rclpy.qos import (
        DurabilityPolicy,
        HistoryPolicy,
        LivelinessPolicy,
        QoSProfile,
        ReliabilityPolicy,
    )

    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth)
    if not profiles:
        return qos
    first = profiles[0]
    keys = ("reliability", "durability", "deadline_ns", "liveliness",
            "liveliness_lease_duration_ns")
    if any(tuple(getattr(p, k) for k in keys) != tuple(getattr(first, k) for k in keys)
           for p in profiles[1:]):
        return qos
    if first.reliability in ("reliable", "best_effort"):
        qos.reliability = ReliabilityPolicy[first.reliability.upper()]
    if first.durability in ("volatile", "transient_local"):
        qos.durability = DurabilityPolicy[first.durability.upper()]
    if first.liveliness in ("automatic", "manual_by_topic"):
        qos.liveliness = LivelinessPolicy[first.liveliness.upper()]

    def duration(ns: int) -> Duration | None:
        return None if ns in (0, INFINITE_NS) else Duration(nanoseconds=ns)

    for name, ns in (("deadline", first.deadline_ns), ("lifespan", first.lifespan_ns),
                     ("liveliness_lease_duration", first.liveliness_lease_duration_ns)):
        value = duration(ns)
        if value is not None:
            setattr(qos, name, value)
    return qos


class Player:
    """Publishes a bag. Construct inside an rclpy context; call play()."""

    def __init__(self, bag: str, options: PlayOptions, log: Callable[[str], None] = print
                 ) -> None:
        import rclpy
        from rosgraph_msgs.msg import Clock

        self.reader = BagReader(bag)
        self.options = options
        self.log = log
        chosen = self.reader.select(options.topics)
        if options.exclude:
            chosen = [t for t in chosen if not re.search(options.exclude, t)]
        if options.clock_hz > 0 and "/clock" in chosen:
            log("the bag has its own /clock: not played, --clock publishes the bag's time")
            chosen = [t for t in chosen if t != "/clock"]
        if not chosen:
            raise BagError(f"no topic of {bag} left to play after the filters")
        for source in options.remaps:
            if source not in self.reader.topic_types():
                raise BagError(f"remap source {source!r} is not a topic of {bag}")
        self.topics = chosen
        self.node = rclpy.create_node(options.node_name)
        self.publishers: dict[str, Any] = {}
        for topic in chosen:
            info = self.reader.metadata.topic(topic)
            if info.serialization_format != "cdr":
                raise BagError(f"{topic}: serialization {info.serialization_format!r} cannot be "
                               "published as is (only cdr)")
            target = options.remaps.get(topic, topic)
            self.publishers[topic] = self.node.create_publisher(
                message_class(info.type), target,
                playback_qos(info.offered_qos, options.qos_depth))
        self.clock_pub = None
        self._clock_cls = Clock
        if options.clock_hz > 0:
            from rclpy.qos import QoSProfile, ReliabilityPolicy

            # Reliable depth 1 matches both rclpy's best-effort /clock subscription and a
            # reliable one.
            self.clock_pub = self.node.create_publisher(
                Clock, "/clock", QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
        self._last_clock_ns = -1
        self.published = {t: 0 for t in chosen}

    # -- clock ------------------------------------------------------------------------------
    def _publish_clock(self, bag_ns: int, allow_back: bool = False) -> None:
        if self.clock_pub is None or (bag_ns <= self._last_clock_ns and not allow_back):
            return
        msg = self._clock_cls()
        msg.clock.sec, msg.clock.nanosec = divmod(int(bag_ns), 1_000_000_000)
        self.clock_pub.publish(msg)
        self._last_clock_ns = int(bag_ns)

    def _wait_for_subscribers(self, stop: Callable[[], bool]) -> None:
        """Until every publisher is matched with every subscription the graph shows for its
        topic (and at least one), so the first messages are not sent into the void."""
        timeout = self.options.wait_for_subscribers_s
        pubs = list(self.publishers.values()) + ([self.clock_pub] if self.clock_pub else [])
        deadline = time.monotonic() + timeout
        start_ns = self.reader.metadata.starting_time_ns + int(self.options.start_offset_s * 1e9)
        while not stop():
            pending = [p.topic_name for p in pubs
                       if p.get_subscription_count() < max(
                           1, self.node.count_subscribers(p.topic_name))]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise BagError(f"no subscriber matched within {timeout:.0f} s on: "
                               + ", ".join(pending))
            self._publish_clock(start_ns, allow_back=True)
            time.sleep(0.05)

    # -- play -------------------------------------------------------------------------------
    def play(self, stop: Callable[[], bool] = lambda: False) -> PlayStats:
        opts = self.options
        started = time.monotonic()
        if opts.wait_for_subscribers_s > 0:
            self._wait_for_subscribers(stop)
        if opts.delay_s:
            time.sleep(opts.delay_s)
        meta = self.reader.metadata
        start_ns = meta.starting_time_ns + int(round(opts.start_offset_s * 1e9))
        if start_ns > meta.end_time_ns:
            raise BagError(f"start offset {opts.start_offset_s} s is past the bag's end "
                           f"({meta.duration_ns / 1e9:.3f} s)")
        clock_period_ns = int(1e9 / opts.clock_hz) if opts.clock_hz > 0 else 0
        passes, late_max = 0, 0.0
        while not stop():
            passes += 1
            wall0 = time.monotonic()
            self._publish_clock(start_ns, allow_back=True)
            next_clock = start_ns + clock_period_ns
            for message in self.reader.messages(self.topics, start_ns=start_ns):
                # /clock ticks that fall before this message, each at its own slot
                while clock_period_ns and next_clock < message.log_time_ns and not stop():
                    self._sleep_until(wall0 + (next_clock - start_ns) / 1e9 / opts.rate)
                    self._publish_clock(next_clock)
                    next_clock += clock_period_ns
                if stop():
                    break
                slot = wall0 + (message.log_time_ns - start_ns) / 1e9 / opts.rate
                late_max = max(late_max, self._sleep_until(slot))
                self._publish_clock(message.log_time_ns)
                self.publishers[message.topic].publish(message.data)
                self.published[message.topic] += 1
            if not opts.loop:
                break
        return PlayStats(dict(self.published), passes, time.monotonic() - started, late_max)

    @staticmethod
    def _sleep_until(slot: float) -> float:
        """Sleep until monotonic time `slot`; return how late we already were (s)."""
        now = time.monotonic()
        if slot > now:
            time.sleep(slot - now)
            return 0.0
        return now - slot

    def close(self, ack_timeout_s: float = 2.0) -> None:
        """Give reliable subscribers the chance to acknowledge the last messages before the
        publishers go away (a process that exits at once can strand them)."""
        from rclpy.duration import Duration

        deadline = time.monotonic() + ack_timeout_s
        for pub in self.publishers.values():
            left = max(0.0, deadline - time.monotonic())
            pub.wait_for_all_acked(Duration(nanoseconds=int(left * 1e9)))
        self.node.destroy_node()


def play_main(bag: str, options: PlayOptions) -> int:
    """CLI entry: play the bag (until done, or SIGINT/SIGTERM), print what was sent."""
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    from sorter.common.node_utils import stop_requested_on_signals

    rclpy.init(args=sys.argv, signal_handler_options=SignalHandlerOptions.NO)
    stop_requested = stop_requested_on_signals()
    try:
        player = Player(bag, options, log=lambda m: print(m, flush=True))
        try:
            print(f"playing {bag}: {', '.join(player.topics)} at rate {options.rate}"
                  f"{', /clock ' + str(options.clock_hz) + ' Hz' if options.clock_hz else ''}",
                  flush=True)
            stats = player.play(stop_requested)
        finally:
            player.close()
    finally:
        rclpy.try_shutdown()
    print(stats.text(), flush=True)
    return 0
