"""rosbag2 bag writer: a folder of MCAP files plus metadata.yaml (ROS-free).

Why this and not `rosbags`' writer: rosbags writes one file per bag, named ``<bag>.mcap``, and
keeps the pending chunk in memory until it reaches 1 MiB, so a recorder killed on a quiet topic
loses minutes. This writer uses the `mcap` package's writer per file and adds what a recorder
on a plant needs:

* **split** by size and/or duration into ``<bag>_0.mcap``, ``<bag>_1.mcap``... (rosbag2's
  naming), every file self-describing (all schemas and channels registered in each);
* **bounded crash loss**: the open chunk is closed and flushed to the OS at least every
  ``flush_interval_s`` (and whenever it reaches ``chunk_size``), so a kill loses at most that
  much; schemas and channels are written before any message, so `repair` can rebuild
  everything from what reached the disk;
* **chunk compression** zstd (default, what rosbag2's MCAP plugin uses), lz4 or none: this is
  storage-level compression, so metadata.yaml says compression_format '' exactly as rosbag2
  does for MCAP chunk compression;
* messages as received: bytes are never decoded; log time, publish time and the publisher's
  sequence number go into the MCAP message record.

metadata.yaml is written on close only, as rosbag2 does: its absence is the sign of a crash.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any

from mcap.writer import CompressionType
from mcap.writer import Writer as McapWriter

from sorter.bag.definitions import MessageDefinition
from sorter.bag.errors import BagError
from sorter.bag.metadata import (
    DEFAULT_VERSION,
    SUPPORTED_VERSIONS,
    BagMetadata,
    FileInfo,
    TopicInfo,
    default_ros_distro,
)
from sorter.bag.qos_yaml import QosRecord, dump_profiles

COMPRESSION = {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4,
               "none": CompressionType.NONE}
MCAP_PROFILE = "ros2"


def library_name() -> str:
    try:
        mcap_version = version("mcap")
    except PackageNotFoundError:  # pragma: no cover - mcap is a pinned dependency
        mcap_version = "?"
    return f"sorter.bag (python mcap {mcap_version})"


@dataclass(frozen=True)
class TopicSpec:
    """A topic as the bag describes it."""

    name: str
    type: str                                  # pkg/msg/Type
    definition: MessageDefinition
    offered_qos: tuple[QosRecord, ...] = ()
    type_hash: str = ""                        # RIHS01_..., '' if unknown
    serialization_format: str = "cdr"


@dataclass(frozen=True)
class WriterOptions:
    """How the bag is cut and compressed. 0 disables a split criterion."""

    split_max_bytes: int = 0
    split_max_duration_s: float = 0.0
    compression: str = "zstd"
    chunk_size: int = 1 << 20
    flush_interval_s: float = 1.0
    metadata_version: int = DEFAULT_VERSION
    ros_distro: str = field(default_factory=default_ros_distro)

    def __post_init__(self) -> None:
        if self.compression not in COMPRESSION:
            raise BagError(f"compression {self.compression!r}: choose one of {list(COMPRESSION)}")
        if self.metadata_version not in SUPPORTED_VERSIONS:
            raise BagError(f"metadata version {self.metadata_version}: choose one of "
                           f"{SUPPORTED_VERSIONS}")
        if self.split_max_bytes < 0 or self.split_max_duration_s < 0:
            raise BagError("split sizes and durations must be >= 0 (0 = no split)")
        if self.chunk_size < 1024 or self.flush_interval_s <= 0:
            raise BagError("chunk_size must be >= 1 KiB and flush_interval_s > 0")


@dataclass
class _FileStats:
    path: str
    count: int = 0
    start_ns: int = 0
    end_ns: int = 0

    def add(self, log_time_ns: int) -> None:
        if self.count == 0:
            self.start_ns = self.end_ns = log_time_ns
        else:
            self.start_ns = min(self.start_ns, log_time_ns)
            self.end_ns = max(self.end_ns, log_time_ns)
        self.count += 1

    def info(self) -> FileInfo:
        return FileInfo(self.path, self.start_ns, self.end_ns - self.start_ns, self.count)


class _OpenFile:
    """One MCAP file being written."""

    def __init__(self, path: Path, options: WriterOptions) -> None:
        try:
            self.stream: IO[bytes] = open(path, "xb")  # noqa: SIM115 - closed in finish()
        except OSError as err:
            raise BagError(f"cannot create {path}: {err}") from None
        self.path = path
        self.stats = _FileStats(path.name)
        self.mcap = McapWriter(self.stream, chunk_size=options.chunk_size,
                               compression=COMPRESSION[options.compression])
        self.mcap.start(profile=MCAP_PROFILE, library=library_name())
        self.schemas: dict[str, int] = {}
        self.channels: dict[str, int] = {}
        self.pending_bytes = 0

    def register(self, spec: TopicSpec, qos_text: str) -> None:
        if spec.type not in self.schemas:
            self.schemas[spec.type] = self.mcap.register_schema(
                name=spec.type, encoding=spec.definition.encoding,
                data=spec.definition.text.encode("utf-8"))
        metadata = {"offered_qos_profiles": qos_text}
        if spec.type_hash:
            metadata["topic_type_hash"] = spec.type_hash
        self.channels[spec.name] = self.mcap.register_channel(
            topic=spec.name, message_encoding=spec.serialization_format,
            schema_id=self.schemas[spec.type], metadata=metadata)

    def size(self) -> int:
        return self.stream.tell() + self.pending_bytes

    def flush(self) -> None:
        self.mcap.flush()
        self.pending_bytes = 0

    def finish(self) -> None:
        try:
            self.mcap.finish()
        finally:
            self.stream.close()


class BagWriter:
    """Write a rosbag2 bag. Use as a context manager, or call close()."""

    def __init__(self, path: str | Path, options: WriterOptions | None = None) -> None:
        self.path = Path(path)
        self.options = options or WriterOptions()
        if self.path.exists():
            raise BagError(f"{self.path} exists already: a bag is never overwritten")
        try:
            self.path.mkdir(parents=True)
        except OSError as err:
            raise BagError(f"cannot create bag folder {self.path}: {err}") from None
        self.topics: dict[str, TopicSpec] = {}
        self.counts: dict[str, int] = {}
        self.custom_data: dict[str, str] = {}
        self.closed_files: list[FileInfo] = []
        self.bytes_in = 0
        self._qos_text: dict[str, str] = {}
        self._file: _OpenFile | None = None
        self._index = 0
        self._last_flush = time.monotonic()
        self._open_next()

    # -- files ------------------------------------------------------------------------------
    def _open_next(self) -> None:
        name = f"{self.path.name}_{self._index}.mcap"
        self._index += 1
        self._file = _OpenFile(self.path / name, self.options)
        for spec in self.topics.values():
            self._file.register(spec, self._qos_text[spec.name])

    def _finish_current(self) -> None:
        if self._file is None:
            return
        current, self._file = self._file, None
        current.finish()
        self.closed_files.append(current.stats.info())

    @property
    def current_file(self) -> Path | None:
        return None if self._file is None else self._file.path

    # -- topics and messages ----------------------------------------------------------------
    def add_topic(self, spec: TopicSpec) -> None:
        """Declare a topic before its first message. Declaring it again with the same type is
        a no-op (QoS of publishers found later can be given by update_qos)."""
        known = self.topics.get(spec.name)
        if known is not None:
            if known.type != spec.type:
                raise BagError(f"topic {spec.name} already recorded as {known.type}, "
                               f"now offered as {spec.type}: one type per topic")
            return
        self._require_open()
        self.topics[spec.name] = spec
        self.counts[spec.name] = 0
        self._qos_text[spec.name] = dump_profiles(list(spec.offered_qos),
                                                  self.options.metadata_version)
        assert self._file is not None
        self._file.register(spec, self._qos_text[spec.name])

    def update_qos(self, topic: str, offered_qos: list[QosRecord]) -> None:
        """Publishers that appeared later: metadata.yaml lists every profile offered."""
        spec = self.topics[topic]
        merged = list(spec.offered_qos)
        merged += [q for q in offered_qos if q not in merged]
        self.topics[topic] = TopicSpec(spec.name, spec.type, spec.definition, tuple(merged),
                                       spec.type_hash, spec.serialization_format)

    def write(self, topic: str, log_time_ns: int, data: bytes | memoryview,
              publish_time_ns: int | None = None, sequence: int = 0) -> None:
        """Append one serialized message (bytes as received, never decoded)."""
        self._require_open()
        if topic not in self.topics:
            raise BagError(f"topic {topic!r} was not declared with add_topic()")
        self._maybe_split(log_time_ns)
        current = self._file
        assert current is not None
        data = bytes(data)
        try:
            current.mcap.add_message(
                channel_id=current.channels[topic], log_time=int(log_time_ns), data=data,
                publish_time=int(log_time_ns if publish_time_ns is None else publish_time_ns),
                sequence=int(sequence) & 0xFFFFFFFF)
        except OSError as err:  # a full chunk is written here: disk full, folder gone
            raise BagError(f"cannot write {current.path}: {err}") from None
        current.stats.add(int(log_time_ns))
        # Bytes not yet on disk, for the size split: an estimate (uncompressed), reset when
        # the mcap writer closes a full chunk by itself or on a flush.
        current.pending_bytes += len(data)
        if current.pending_bytes >= self.options.chunk_size:
            current.pending_bytes = 0
        self.counts[topic] += 1
        self.bytes_in += len(data)
        self.maybe_flush()

    def _maybe_split(self, log_time_ns: int) -> None:
        current = self._file
        assert current is not None
        if current.stats.count == 0:
            return
        opts = self.options
        too_big = opts.split_max_bytes and current.size() >= opts.split_max_bytes
        too_long = (opts.split_max_duration_s
                    and log_time_ns - current.stats.start_ns >= opts.split_max_duration_s * 1e9)
        if too_big or too_long:
            self._finish_current()
            self._open_next()

    def maybe_flush(self, now: float | None = None) -> bool:
        """Close the open chunk and hand it to the OS if flush_interval_s has passed: bounds
        what a crash can lose. Call it from a timer too, for quiet topics."""
        if self._file is None:
            return False
        now = time.monotonic() if now is None else now
        if now - self._last_flush < self.options.flush_interval_s:
            return False
        self._last_flush = now
        try:
            self._file.flush()
        except OSError as err:
            raise BagError(f"cannot write {self._file.path}: {err}") from None
        return True

    def set_custom_data(self, key: str, value: str) -> None:
        """Free key/value pairs in metadata.yaml (rosbag2's custom_data): strings only."""
        if not isinstance(value, str):
            raise BagError(f"custom_data {key!r} must be a string, got {type(value).__name__}")
        self.custom_data[key] = value

    def _require_open(self) -> None:
        if self._file is None:
            raise BagError(f"bag {self.path} is closed")

    # -- close ------------------------------------------------------------------------------
    def metadata(self) -> BagMetadata:
        files = list(self.closed_files)
        if self._file is not None:
            files.append(self._file.stats.info())
        return BagMetadata(
            topics=[TopicInfo(name=s.name, type=s.type,
                              serialization_format=s.serialization_format,
                              offered_qos=list(s.offered_qos),
                              type_description_hash=s.type_hash,
                              message_count=self.counts[s.name])
                    for s in self.topics.values()],
            files=files,
            version=self.options.metadata_version,
            custom_data=dict(self.custom_data),
            ros_distro=self.options.ros_distro,
        )

    def close(self) -> BagMetadata:
        """Finish the open file and write metadata.yaml. Idempotent."""
        if self._file is None and (self.path / "metadata.yaml").exists():
            return BagMetadata.read(self.path)
        self._finish_current()
        metadata = self.metadata()
        metadata.write(self.path)
        return metadata

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
