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
  ``/clock`` back to the start at each pass, as rosbag2 does;
* topics are published on the name as recorded: a relative name (``topic``, as rosbag2's
  writer API allows) resolves in the player's namespace, ``/topic`` with the default one;
  filters and remaps take either spelling;
* a topic that cannot be published here (its message type is not installed, e.g. the
  ``/events/write_split`` of ``ros2 bag record`` bags; not CDR; an invalid name) is skipped
  with one warning and the rest plays, as ``ros2 bag play`` does;
* discovery: messages sent before a subscriber is matched are lost to it, and discovering the
  processes already running takes from a few ms to a few hundred ms (seconds, right after
  another participant of the same domain went away). So by default play starts once every
  topic has a matched subscriber and every subscriber the graph shows is matched, or after
  ``wait_for_discovery_s`` (2 s) at most; ``wait_for_subscribers_s`` instead insists, and fails
  when the subscribers do not come.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sorter.bag.definitions import message_class
from sorter.bag.errors import BagError
from sorter.bag.metadata import TopicInfo
from sorter.bag.qos_yaml import INFINITE_NS, QosRecord
from sorter.bag.reader import BagReader, absolute_topic, compile_regex
from sorter.bag.rosargs import init_rclpy

NODE_NAME = "sorter_bag_player"
DEFAULT_DISCOVERY_WAIT_S = 2.0
POLL_S = 0.02   # how often the wait looks at the matches and the graph


def _warn(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass
class PlayOptions:
    rate: float = 1.0
    loop: bool = False
    start_offset_s: float = 0.0
    topics: list[str] | None = None            # None: all; 'topic' or '/topic'
    exclude: str | None = None                 # regex on the topic name (either spelling)
    remaps: dict[str, str] = field(default_factory=dict)   # fully qualified names
    clock_hz: float = 0.0                      # 0: no /clock
    qos_depth: int = 100
    delay_s: float = 0.0
    wait_for_subscribers_s: float = 0.0        # 0: do not insist on subscribers
    wait_for_discovery_s: float = DEFAULT_DISCOVERY_WAIT_S   # 0: start at once
    node_name: str = NODE_NAME

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise BagError(f"rate must be > 0, got {self.rate}")
        if not all(v >= 0 for v in (self.start_offset_s, self.delay_s, self.clock_hz,
                                    self.wait_for_subscribers_s, self.wait_for_discovery_s)):
            raise BagError("start offset, delay, clock rate and wait times must be >= 0")
        if self.qos_depth < 1:
            raise BagError("qos depth must be >= 1")
        self._exclude = compile_regex(self.exclude, "--exclude")

    def excluded(self, name: str, spellings: list[str]) -> bool:
        return self._exclude is not None and any(
            self._exclude.search(n) for n in (name, *spellings))


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


@dataclass(frozen=True)
class PlannedTopic:
    """A topic that will be played, and how."""

    name: str          # fully qualified, as filters, remaps and the stats name it
    publish_as: str    # the remap target, else the name as recorded (may be relative)
    info: TopicInfo    # type (pkg/msg/Type), offered QoS, count
    msg_class: Any
    remapped: bool = False


@dataclass
class PlaybackPlan:
    topics: list[PlannedTopic]
    skipped: dict[str, str]   # topic -> why it cannot be played here


def plan_playback(reader: BagReader, options: PlayOptions,
                  log: Callable[[str], None] = print) -> PlaybackPlan:
    """What of the bag is played (no middleware needed): the topic filter and --exclude, with
    either spelling of a name; the remaps; and each topic that cannot be published here
    (type not installed, not CDR, recorded twice with different types) set aside with its
    reason. BagError if a filter or remap names no topic of the bag, or nothing is left."""
    chosen = reader.select(options.topics)
    chosen = [t for t in chosen if not options.excluded(t, reader.recorded_names[t])]
    if options.clock_hz > 0 and "/clock" in chosen:
        log("the bag has its own /clock: not played, --clock publishes the bag's time")
        chosen = [t for t in chosen if t != "/clock"]
    if not chosen:
        raise BagError(f"no topic of {reader.path} left to play after the filters")
    for source in options.remaps:
        if source not in reader.topic_types():
            raise BagError(f"remap source {source!r} is not a topic of {reader.path} "
                           f"(topics: {', '.join(reader.topic_types())})")
    planned: list[PlannedTopic] = []
    skipped: dict[str, str] = {}
    for topic in chosen:
        info = reader.topic(topic)
        if topic in reader.conflicts:
            skipped[topic] = reader.conflicts[topic]
            continue
        if info.serialization_format != "cdr":
            skipped[topic] = (f"serialization {info.serialization_format!r} cannot be "
                              "published as is (only cdr)")
            continue
        try:
            msg_class = message_class(info.type)
        except BagError as err:
            skipped[topic] = str(err)
            continue
        spellings = reader.recorded_names[topic]
        # As recorded: a relative name resolves in the node's namespace, as rosbag2 has it.
        target = options.remaps.get(topic) or (spellings[0] if len(spellings) == 1 else topic)
        planned.append(PlannedTopic(topic, target, info, msg_class, topic in options.remaps))
    if not planned:
        raise BagError(f"no topic of {reader.path} can be played here: "
                       + "; ".join(f"{t}: {r}" for t, r in skipped.items()))
    return PlaybackPlan(planned, skipped)


class Player:
    """Publishes a bag. Construct inside an rclpy context; call play()."""

    def __init__(self, bag: str, options: PlayOptions, log: Callable[[str], None] = print,
                 warn: Callable[[str], None] = _warn) -> None:
        import rclpy
        from rosgraph_msgs.msg import Clock

        self.reader = BagReader(bag)
        self.options = options
        self.log = log
        self.warn = warn
        self._insist = False   # waiting for subscribers is a must (--wait-for-subscribers)
        plan = plan_playback(self.reader, options, log)
        self.skipped = dict(plan.skipped)
        self.node = rclpy.create_node(options.node_name)
        self.publishers: dict[str, Any] = {}
        try:
            for topic in plan.topics:
                try:
                    self.publishers[topic.name] = self.node.create_publisher(
                        topic.msg_class, topic.publish_as,
                        playback_qos(topic.info.offered_qos, options.qos_depth))
                except Exception as err:  # noqa: BLE001 - rclpy's invalid-name, rcl errors
                    if topic.remapped:
                        raise BagError(f"remap target {topic.publish_as!r} of {topic.name} "
                                       f"cannot be published on: {err}") from None
                    self.skipped[topic.name] = (f"cannot publish on {topic.publish_as!r} "
                                                f"({type(err).__name__}: {err})")
            if not self.publishers:
                raise BagError(f"no topic of {bag} can be played here: " + "; ".join(
                    f"{t}: {r}" for t, r in self.skipped.items()))
            for name, reason in self.skipped.items():
                warn(f"warning: skipping topic {name}: {reason}")
        except BaseException:
            self.node.destroy_node()
            raise
        self.topics = list(self.publishers)
        self.clock_pub = None
        self._clock_cls = Clock
        if options.clock_hz > 0:
            from rclpy.qos import QoSProfile, ReliabilityPolicy

            # Reliable depth 1 matches both rclpy's best-effort /clock subscription and a
            # reliable one.
            self.clock_pub = self.node.create_publisher(
                Clock, "/clock", QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
        self._last_clock_ns = -1
        self.published = {t: 0 for t in self.topics}

    # -- clock ------------------------------------------------------------------------------
    def _publish_clock(self, bag_ns: int, allow_back: bool = False) -> None:
        if self.clock_pub is None or (bag_ns <= self._last_clock_ns and not allow_back):
            return
        msg = self._clock_cls()
        msg.clock.sec, msg.clock.nanosec = divmod(int(bag_ns), 1_000_000_000)
        self.clock_pub.publish(msg)
        self._last_clock_ns = int(bag_ns)

    def _all_publishers(self) -> list[Any]:
        return list(self.publishers.values()) + ([self.clock_pub] if self.clock_pub else [])

    def _unmatched(self) -> list[tuple[str, int, int]]:
        """(topic, matched, subscribers in the graph) of each publisher still to wait for: one
        not yet matched with every subscriber the graph shows for its topic, or with none at
        all (/clock, which nobody may need, only when insisting)."""
        waiting = []
        for pub in self._all_publishers():
            matched = pub.get_subscription_count()
            in_graph = self.node.count_subscribers(pub.topic_name)
            least = 1 if pub is not self.clock_pub or self._insist else 0
            if matched < max(least, in_graph):
                waiting.append((pub.topic_name, matched, in_graph))
        return waiting

    def _wait_for_matches(self, timeout_s: float, stop: Callable[[], bool]
                          ) -> list[tuple[str, int, int]]:
        """Until nothing is left to wait for (see _unmatched), `timeout_s` has passed or stop()
        is true; returns what is still unmatched. /clock carries the start time meanwhile, so
        a sim-time node has a time before its first message."""
        deadline = time.monotonic() + timeout_s
        start_ns = self.reader.metadata.starting_time_ns + int(
            round(self.options.start_offset_s * 1e9))
        while not stop():
            waiting = self._unmatched()
            left = deadline - time.monotonic()
            if not waiting or left <= 0:
                return waiting
            self._publish_clock(start_ns, allow_back=True)
            time.sleep(min(POLL_S, left))
        return []

    def _wait(self, stop: Callable[[], bool]) -> None:
        opts = self.options
        self._insist = opts.wait_for_subscribers_s > 0
        timeout = opts.wait_for_subscribers_s if self._insist else opts.wait_for_discovery_s
        if timeout <= 0:
            return
        began = time.monotonic()
        waiting = self._wait_for_matches(timeout, stop)
        if self._insist and waiting:
            raise BagError(f"no subscriber matched within {timeout:g} s on: "
                           + ", ".join(t for t, _m, _g in waiting))
        matched = sum(p.get_subscription_count() for p in self._all_publishers())
        self.log(f"discovery: {matched} subscription(s) matched in "
                 f"{time.monotonic() - began:.2f} s")
        for topic, got, in_graph in waiting:
            if in_graph > got:
                self.warn(f"warning: {topic}: {got} of the {in_graph} subscriber(s) in the "
                          f"graph matched after {timeout:g} s (incompatible QoS or type?)")

    # -- play -------------------------------------------------------------------------------
    def play(self, stop: Callable[[], bool] = lambda: False) -> PlayStats:
        opts = self.options
        started = time.monotonic()
        self._wait(stop)
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


def play_main(bag: str, options: PlayOptions, ros_args: list[str] | None = None) -> int:
    """CLI entry: play the bag (until done, or SIGINT/SIGTERM), print what was sent.
    `ros_args` are the ROS arguments given after --ros-args; the tool's own arguments never
    reach rcl."""
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    from sorter.common.node_utils import stop_requested_on_signals

    init_rclpy(ros_args, signal_handler_options=SignalHandlerOptions.NO)
    stop_requested = stop_requested_on_signals()
    try:
        player = Player(bag, options, log=lambda m: print(m, flush=True))
        try:
            names = ", ".join(p.topic_name for p in player.publishers.values())
            print(f"playing {bag}: {names} at rate {options.rate}"
                  f"{', /clock ' + str(options.clock_hz) + ' Hz' if options.clock_hz else ''}",
                  flush=True)
            stats = player.play(stop_requested)
        finally:
            player.close()
    finally:
        rclpy.try_shutdown()
    print(stats.text(), flush=True)
    return 0
