"""Rebuild a bag after a crash (ROS-free).

Why: metadata.yaml is written when a recording closes, so a recorder that was killed (power
cut, OOM, SIGKILL) leaves MCAP files and no metadata: `ros2 bag play` and `rosbags` refuse the
folder. Everything metadata.yaml holds is in the MCAP files themselves (schemas, channels with
their offered QoS and type hash, every message's log time), so it can be rebuilt.

The file that was open at the crash has no summary or footer and may end in a half-written
chunk. Its complete records are read sequentially up to the first damaged one, and the file is
rewritten as a complete MCAP (summary, indexes, footer) so that every reader, including ones
that insist on an index, opens it. What was lost is reported: the messages of the chunk being
written when the recorder died, at most the recorder's flush interval.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mcap.reader import make_reader
from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader
from mcap.writer import Writer as McapWriter

from sorter.bag.definitions import type_hash
from sorter.bag.errors import BagError
from sorter.bag.metadata import (
    DEFAULT_VERSION,
    METADATA_FILE,
    BagMetadata,
    FileInfo,
    TopicInfo,
    default_ros_distro,
)
from sorter.bag.qos_yaml import load_profiles
from sorter.bag.writer import MCAP_PROFILE, library_name


@dataclass
class ChannelScan:
    topic: str
    type: str
    serialization_format: str
    qos_text: str
    type_hash: str
    count: int = 0


@dataclass
class FileScan:
    """What one MCAP file holds, and whether it was closed properly."""

    path: Path
    complete: bool
    channels: dict[int, ChannelScan] = field(default_factory=dict)
    count: int = 0
    start_ns: int = 0
    end_ns: int = 0
    problem: str | None = None

    def add(self, channel_id: int, log_time_ns: int) -> None:
        self.channels[channel_id].count += 1
        if self.count == 0:
            self.start_ns = self.end_ns = log_time_ns
        else:
            self.start_ns = min(self.start_ns, log_time_ns)
            self.end_ns = max(self.end_ns, log_time_ns)
        self.count += 1

    def info(self) -> FileInfo:
        return FileInfo(self.path.name, self.start_ns, self.end_ns - self.start_ns, self.count)


def _channel_scan(channel: Channel, schemas: dict[int, Schema]) -> ChannelScan:
    schema = schemas.get(channel.schema_id)
    return ChannelScan(
        topic=channel.topic,
        type=schema.name if schema is not None else "",
        serialization_format=channel.message_encoding,
        qos_text=channel.metadata.get("offered_qos_profiles", ""),
        type_hash=channel.metadata.get("topic_type_hash", ""),
    )


def _scan_summary(path: Path) -> FileScan | None:
    """Fast path: a properly closed file has a summary with per-channel counts."""
    with open(path, "rb") as stream:
        summary = make_reader(stream).get_summary()
    if summary is None or summary.statistics is None:
        return None
    stats = summary.statistics
    scan = FileScan(path, complete=True, count=stats.message_count,
                    start_ns=stats.message_start_time, end_ns=stats.message_end_time)
    for cid, channel in summary.channels.items():
        scan.channels[cid] = _channel_scan(channel, summary.schemas)
        scan.channels[cid].count = stats.channel_message_counts.get(cid, 0)
    return scan


def _records(path: Path) -> Iterator[tuple[Schema | Channel | Message | None, str | None]]:
    """Schema, Channel and Message records in file order, stopping at the first damaged one;
    yields (record, None) and finally (None, problem-or-None)."""
    with open(path, "rb") as stream:
        reader = StreamReader(stream, validate_crcs=True)
        try:
            for record in reader.records:
                if isinstance(record, (Schema, Channel, Message)):
                    yield record, None
        except Exception as err:  # noqa: BLE001 - any decoding failure marks the damage point
            yield None, f"{type(err).__name__}: {err}".strip()
            return
    yield None, None


def scan_file(path: str | Path) -> FileScan:
    """Channels, counts and time range of one MCAP file, complete or crashed."""
    path = Path(path)
    try:
        fast = _scan_summary(path)
    except Exception:  # noqa: BLE001 - no usable summary: fall through to the linear scan
        fast = None
    if fast is not None:
        return fast
    scan = FileScan(path, complete=False)
    schemas: dict[int, Schema] = {}
    try:
        for record, problem in _records(path):
            if record is None:
                scan.problem = problem or "no summary or footer (file not closed)"
                break
            if isinstance(record, Schema):
                schemas[record.id] = record
            elif isinstance(record, Channel):
                scan.channels[record.id] = _channel_scan(record, schemas)
            elif record.channel_id in scan.channels:
                scan.add(record.channel_id, record.log_time)
    except OSError as err:
        raise BagError(f"cannot read {path}: {err}") from None
    if not scan.channels and scan.count == 0 and scan.problem and "magic" in scan.problem.lower():
        raise BagError(f"{path} is not an MCAP file ({scan.problem})")
    return scan


def salvage_file(path: Path, keep_original: bool = False) -> FileScan:
    """Rewrite a crashed MCAP file with every complete record it holds, as a closed file."""
    tmp = path.with_suffix(".mcap.repairing")
    schema_ids: dict[int, int] = {}
    channel_ids: dict[int, int] = {}
    with open(tmp, "wb") as out:
        writer = McapWriter(out)
        writer.start(profile=MCAP_PROFILE, library=library_name())
        for record, _problem in _records(path):
            if record is None:
                break
            if isinstance(record, Schema):
                schema_ids[record.id] = writer.register_schema(record.name, record.encoding,
                                                               record.data)
            elif isinstance(record, Channel):
                channel_ids[record.id] = writer.register_channel(
                    record.topic, record.message_encoding,
                    schema_ids.get(record.schema_id, 0), dict(record.metadata))
            elif record.channel_id in channel_ids:
                writer.add_message(channel_ids[record.channel_id], record.log_time,
                                   record.data, record.publish_time, record.sequence)
        writer.finish()
    if keep_original:
        path.replace(path.with_suffix(".mcap.crashed"))
    tmp.replace(path)
    return scan_file(path)


def _split_index(path: Path) -> tuple[int, str]:
    match = re.search(r"_(\d+)\.mcap$", path.name)
    return (int(match.group(1)) if match else 1 << 30, path.name)


def bag_files(bag_dir: Path) -> list[Path]:
    """The bag's MCAP files in split order (<bag>_0.mcap, <bag>_1.mcap, ...)."""
    return sorted(Path(bag_dir).glob("*.mcap"), key=_split_index)


def _installed_hash(type_name: str) -> str:
    """The installed type's hash, '' for a type unknown here or spelled oddly (the bag
    still opens; its player says what is wrong with the type)."""
    try:
        return type_hash(type_name) if type_name else ""
    except BagError:
        return ""


def metadata_from_scans(scans: list[FileScan], version: int = DEFAULT_VERSION,
                        ros_distro: str | None = None) -> BagMetadata:
    """metadata.yaml content from what the files hold."""
    topics: dict[str, TopicInfo] = {}
    for scan in scans:
        for channel in scan.channels.values():
            topic = topics.get(channel.topic)
            if topic is None:
                profiles = load_profiles(channel.qos_text) if channel.qos_text else []
                topic = topics[channel.topic] = TopicInfo(
                    name=channel.topic, type=channel.type,
                    serialization_format=channel.serialization_format,
                    offered_qos=profiles,
                    type_description_hash=channel.type_hash or _installed_hash(channel.type),
                )
            topic.message_count += channel.count
    return BagMetadata(topics=list(topics.values()), files=[s.info() for s in scans],
                       version=version, ros_distro=ros_distro or default_ros_distro())


@dataclass
class RepairReport:
    bag: Path
    files: list[FileScan]
    salvaged: list[str]
    metadata: BagMetadata

    def text(self) -> str:
        lines = [f"repaired {self.bag}: {self.metadata.message_count} messages in "
                 f"{len(self.files)} file(s), metadata.yaml rebuilt"]
        for scan in self.files:
            mark = " (rewritten: was not closed)" if scan.path.name in self.salvaged else ""
            lines.append(f"  {scan.path.name}: {scan.count} messages{mark}")
        for topic in self.metadata.topics:
            lines.append(f"  {topic.name} [{topic.type}]: {topic.message_count}")
        return "\n".join(lines)


def repair(bag_dir: str | Path, force: bool = False, keep_original: bool = False,
           version: int = DEFAULT_VERSION, ros_distro: str | None = None) -> RepairReport:
    """Rebuild metadata.yaml of `bag_dir` from its MCAP files; rewrite files left open."""
    bag = Path(bag_dir)
    if not bag.is_dir():
        raise BagError(f"{bag} is not a bag folder")
    files = bag_files(bag)
    if not files:
        raise BagError(f"{bag} holds no .mcap file: nothing to repair")
    old = bag / METADATA_FILE
    custom: dict[str, str] = {}
    if old.exists():
        if not force:
            raise BagError(f"{old} exists: the bag was closed. Use --force to rebuild it anyway")
        try:
            custom = BagMetadata.read(bag).custom_data
        except BagError:
            custom = {}
    scans, salvaged = [], []
    for path in files:
        scan = scan_file(path)
        if not scan.complete:
            scan = salvage_file(path, keep_original)
            salvaged.append(path.name)
        scans.append(scan)
    metadata = metadata_from_scans(scans, version, ros_distro)
    metadata.custom_data = {**custom,
                            "sorter.repaired": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    metadata.write(bag)
    return RepairReport(bag, scans, salvaged, metadata)
