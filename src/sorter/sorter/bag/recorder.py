"""`sorter bag record`: an rclpy recorder writing rosbag2 MCAP bags.

How it records, and why:

* **raw subscriptions** (``raw=True``): messages arrive as the serialized CDR bytes and are
  written as received, never decoded and re-encoded (cheaper, and byte-exact).
* **discovery** like rosbag2: topics are subscribed once a publisher shows up on the graph
  (polled every 0.1 s), with the type the publisher announces. The subscription is reliable
  only if every publisher is, transient-local only if every publisher is (so it matches them
  all), with a deep KEEP_LAST history so a burst waits in the reader rather than being
  overwritten. The publishers' offered profiles and type hash go into the bag.
* **times**: log time = the middleware's reception time (system clock, ns), or the node's ROS
  time with ``use_sim_time``; publish time = the publisher's source timestamp; the publisher's
  sequence number goes into the MCAP message record too, so gaps can be recounted later.
* **loss** is counted from those sequence numbers (sorter.bag.loss) and stored with the bag
  (metadata custom_data ``sorter.loss``), with the recorder's throughput and CPU time.
"""

from __future__ import annotations

import json
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sorter.bag.definitions import MessageDefinition, message_class, message_definition
from sorter.bag.definitions import type_hash as installed_type_hash
from sorter.bag.errors import BagError
from sorter.bag.loss import LossAccountant
from sorter.bag.qos_yaml import INFINITE_NS, QosRecord
from sorter.bag.reader import absolute_topic, compile_regex
from sorter.bag.rosargs import init_rclpy
from sorter.bag.writer import BagWriter, TopicSpec, WriterOptions

NODE_NAME = "sorter_bag_recorder"
REFRESH_TICKS = 10


@dataclass
class RecordOptions:
    topics: list[str] = field(default_factory=list)   # absolute names
    all_topics: bool = False
    exclude: str | None = None                        # regex on the absolute name
    include_hidden: bool = False
    qos_depth: int = 500
    discovery_period_s: float = 0.1
    use_sim_time: bool = False
    max_duration_s: float = 0.0                       # 0: until SIGINT/SIGTERM
    node_name: str = NODE_NAME
    writer: WriterOptions = field(default_factory=WriterOptions)

    def __post_init__(self) -> None:
        self._exclude = compile_regex(self.exclude, "--exclude")

    def wants(self, topic: str) -> bool:
        if self._exclude is not None and self._exclude.search(topic):
            return False
        if self.all_topics:
            hidden = any(part.startswith("_") for part in topic.split("/"))
            return self.include_hidden or not hidden
        return topic in self.topics


@dataclass
class RecordStats:
    """What a recording did, for the operator and the acceptance figures."""

    bag: str
    messages: int
    bytes: int
    wall_s: float
    cpu_s: float
    topics: dict[str, int]
    loss: dict[str, dict[str, Any]]
    files: list[str]

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def messages_per_s(self) -> float:
        return self.messages / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def cpu_share(self) -> float:
        """Recorder CPU time over wall time (1.0 = one core fully busy)."""
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "bag": self.bag, "messages": self.messages, "bytes": self.bytes,
            "wall_s": round(self.wall_s, 3), "cpu_s": round(self.cpu_s, 3),
            "mb_per_s": round(self.mb_per_s, 3), "messages_per_s": round(self.messages_per_s, 1),
            "cpu_share": round(self.cpu_share, 4), "topics": self.topics, "loss": self.loss,
            "files": self.files,
        }

    def text(self) -> str:
        gaps = sum(int(v["gaps"]) for v in self.loss.values())
        lines = [
            f"recorded {self.messages} messages, {self.bytes / 1e6:.1f} MB in {self.wall_s:.1f} s "
            f"({self.mb_per_s:.2f} MB/s, {self.messages_per_s:.0f} msg/s), recorder CPU "
            f"{100 * self.cpu_share:.1f} % of one core; lost (sequence gaps): {gaps}",
        ]
        for topic, loss in self.loss.items():
            note = "" if loss["exact"] else " (several publishers: approximate)"
            lines.append(f"  {topic}: {loss['received']} received, {loss['gaps']} lost, "
                         f"{loss['before_subscription']} before subscription{note}")
        return "\n".join(lines)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def qos_record(q: Any) -> QosRecord:
    """An rclpy QoSProfile -> the profile rosbag2 records. An unspecified duration (0) is
    written as infinite, which is what the middleware reports for it."""

    def ns(duration: Any) -> int:
        return int(duration.nanoseconds) or INFINITE_NS

    return QosRecord(
        history=q.history.name.lower(), depth=int(q.depth),
        reliability=q.reliability.name.lower(), durability=q.durability.name.lower(),
        deadline_ns=ns(q.deadline), lifespan_ns=ns(q.lifespan),
        liveliness=q.liveliness.name.lower(),
        liveliness_lease_duration_ns=ns(q.liveliness_lease_duration),
        avoid_ros_namespace_conventions=bool(q.avoid_ros_namespace_conventions),
    )


def offered_qos(info: Any) -> QosRecord:
    """rclpy's view of a publisher's QoS (TopicEndpointInfo) -> the recorded profile."""
    return qos_record(info.qos_profile)


class Recorder:
    """Owns a node, the subscriptions and the writer. Call run() (blocks) or drive it with an
    executor of your own and call close()."""

    def __init__(self, bag_path: str | Path, options: RecordOptions, log: Any = print) -> None:
        import rclpy
        from rclpy.parameter import Parameter

        self.options = options
        self.log = log
        self.writer = BagWriter(bag_path, options.writer)
        self.loss = LossAccountant()
        self.node = rclpy.create_node(
            options.node_name,
            parameter_overrides=[Parameter("use_sim_time", Parameter.Type.BOOL,
                                           options.use_sim_time)])
        self.subscriptions: dict[str, Any] = {}
        self.refused: set[str] = set()
        self.failure: str | None = None
        self.started = time.monotonic()
        self.cpu_start = _cpu_seconds()
        self._ticks = 0
        self.node.create_timer(options.discovery_period_s, self.discover)
        self.node.create_timer(0.25, self._flush_tick)
        self.discover()

    def _flush_tick(self) -> None:
        """Quiet topics reach the disk within the flush interval too."""
        try:
            self.writer.maybe_flush()
        except BagError as err:
            self.failure = str(err)

    # -- discovery --------------------------------------------------------------------------
    def discover(self) -> None:
        """New topics every tick; publishers of recorded topics every REFRESH_TICKS ticks
        (their count for the loss accounting, their QoS for the metadata)."""
        self._ticks += 1
        refresh = self._ticks % REFRESH_TICKS == 0
        for topic, types in self.node.get_topic_names_and_types():
            if topic in self.refused or not self.options.wants(topic):
                continue
            if topic in self.subscriptions:
                if refresh:
                    infos = self.node.get_publishers_info_by_topic(topic)
                    self.loss.set_publishers(topic, len(infos))
                    self.writer.update_qos(topic, [offered_qos(i) for i in infos])
                continue
            infos = self.node.get_publishers_info_by_topic(topic)
            if not infos:
                continue  # only subscribers so far: wait for a publisher
            try:
                self._subscribe(topic, types, infos)
            except BagError as err:
                self.refused.add(topic)
                self.log(f"not recording {topic}: {err}")

    def _subscribe(self, topic: str, types: list[str], infos: list[Any]) -> None:
        from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

        if len(set(types)) > 1:
            self.log(f"{topic} is published with several types {types}: recording {types[0]}")
        type_name = types[0]
        msg_class = message_class(type_name)
        try:
            definition = message_definition(type_name)
        except BagError as err:
            self.log(f"warning: {err}; {topic} recorded without its definition")
            definition = MessageDefinition(type_name, "unknown", "")
        hashes = {str(i.topic_type_hash) for i in infos} - {"INVALID"}
        type_hash = sorted(hashes)[0] if hashes else installed_type_hash(type_name)
        profiles = [offered_qos(i) for i in infos]
        reliable = all(p.reliability == "reliable" for p in profiles)
        latched = all(p.durability == "transient_local" for p in profiles)
        qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=self.options.qos_depth,
            reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
            durability=(DurabilityPolicy.TRANSIENT_LOCAL if latched
                        else DurabilityPolicy.VOLATILE),
        )
        unique: list[QosRecord] = []
        for p in profiles:
            if p not in unique:
                unique.append(p)
        self.writer.add_topic(TopicSpec(topic, type_name, definition, tuple(unique), type_hash))
        self.loss.set_publishers(topic, len(infos))
        self.subscriptions[topic] = self.node.create_subscription(
            msg_class, topic, self._callback(topic), qos, raw=True)
        self.log(f"recording {topic} [{type_name}] "
                 f"{'reliable' if reliable else 'best effort'}"
                 f"{', transient local' if latched else ''}, {len(infos)} publisher(s)")

    def _callback(self, topic: str) -> Any:
        writer, loss, clock = self.writer, self.loss, self.node.get_clock()
        sim_time = self.options.use_sim_time

        def on_message(data: bytes, info: dict[str, Any]) -> None:
            if self.failure is not None:
                return
            sequence = info.get("publication_sequence_number") or 0
            log_ns = (clock.now().nanoseconds if sim_time
                      else info.get("received_timestamp") or time.time_ns())
            try:
                writer.write(topic, log_ns, data, info.get("source_timestamp") or log_ns,
                             sequence)
            except BagError as err:  # disk full, folder removed: stop, keep what was written
                self.failure = str(err)
                return
            loss.record(topic, sequence, log_ns)

        return on_message

    # -- run and close ----------------------------------------------------------------------
    def stats(self) -> RecordStats:
        wall = time.monotonic() - self.started
        return RecordStats(
            bag=str(self.writer.path), messages=sum(self.writer.counts.values()),
            bytes=self.writer.bytes_in, wall_s=wall, cpu_s=_cpu_seconds() - self.cpu_start,
            topics=dict(self.writer.counts), loss=self.loss.summary(),
            files=[f.path for f in self.writer.metadata().files])

    def close(self) -> RecordStats:
        stats = self.stats()
        self.writer.set_custom_data("sorter.loss", json.dumps(stats.loss, sort_keys=True))
        self.writer.set_custom_data("sorter.recorder", json.dumps(
            {k: v for k, v in stats.to_dict().items() if k not in ("loss", "topics", "files")}))
        self.writer.close()
        self.node.destroy_node()
        return stats

    def run(self, stop: Any) -> RecordStats:
        """Spin until stop() is true, the duration is reached or writing fails; then close."""
        from rclpy.executors import SingleThreadedExecutor

        executor = SingleThreadedExecutor()
        executor.add_node(self.node)
        limit = self.options.max_duration_s
        try:
            while not stop() and self.failure is None:
                if limit and time.monotonic() - self.started >= limit:
                    break
                executor.spin_once(timeout_sec=0.1)
        finally:
            executor.remove_node(self.node)
            stats = self.close()
        if self.failure is not None:
            raise BagError(f"recording stopped: {self.failure}")
        return stats


def raise_priority(nice: int) -> str:
    """Lower this process's nice value (higher scheduling priority), where permitted.

    Why: publishers of state streams keep only their last few samples (KEEP_LAST 10 at
    100 Hz is 0.1 s); a recorder starved of CPU for longer than that on a busy machine misses
    samples the publisher has already discarded. Measured on the 2-core cell: 2-19 encoder
    samples lost in 2 of 4 runs at nice 0, none in 3 of 3 at nice -10. Must run before the
    middleware starts its threads (Linux threads inherit the creating thread's nice value)."""
    import os

    if nice >= 0:
        return "recorder priority unchanged"
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except OSError as err:
        return (f"warning: cannot raise the recorder's priority to nice {nice} ({err.strerror}); "
                "on a busy machine keep-last publishers may drop samples before it reads them")
    return f"recorder priority raised to nice {nice}"


def record_main(bag: str, options: RecordOptions, stats_path: str | None = None,
                nice: int = 0, ros_args: list[str] | None = None) -> int:
    """CLI entry: record until SIGINT/SIGTERM (or --max-duration), then print the figures.
    `ros_args` are the ROS arguments given after --ros-args (remaps, log level...); the
    tool's own arguments never reach rcl."""
    print(raise_priority(nice), flush=True)
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    from sorter.common.node_utils import stop_requested_on_signals

    init_rclpy(ros_args, signal_handler_options=SignalHandlerOptions.NO)
    stop_requested = stop_requested_on_signals()
    try:
        recorder = Recorder(bag, options, log=lambda m: print(m, flush=True))
        wanted = "all topics" if options.all_topics else ", ".join(options.topics)
        print(f"recording to {bag} ({wanted}); Ctrl-C stops", flush=True)
        stats = recorder.run(stop_requested)
    finally:
        rclpy.try_shutdown()
    print(stats.text(), flush=True)
    if stats_path:
        Path(stats_path).write_text(json.dumps(stats.to_dict(), indent=2))
    return 0


def parse_topics(names: list[str]) -> list[str]:
    return [absolute_topic(n) for n in names]
