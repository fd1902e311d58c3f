"""Offline bag reader (ROS-free): serialized messages in log-time order.

Why here and not rosbags' AnyReader: the player and the offline regression run need the raw
CDR bytes, exactly as recorded, with log time, publish time and sequence number, merged across
split files, from bags written by this package, by `ros2 bag record -s mcap` or by rosbags; and
every failure (missing metadata, missing or corrupt file, unknown topic) must say what to do.
Decoding is left to the caller (rclpy's deserialize_message in ROS processes).

A path may be a bag folder (metadata.yaml + files) or a single ``.mcap`` file.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mcap.reader import make_reader

from sorter.bag.errors import BagError
from sorter.bag.metadata import BagMetadata, TopicInfo
from sorter.bag.repair import metadata_from_scans, scan_file


@dataclass(frozen=True)
class BagMessage:
    topic: str
    type: str
    log_time_ns: int        # when the recorder received it
    publish_time_ns: int    # when the publisher sent it (= log time in bags that lack it)
    sequence: int           # publisher's sequence number, 0 if not recorded
    data: bytes             # serialized (CDR) message


def absolute_topic(name: str) -> str:
    """Bags store fully qualified names; 'xrt/strip' means '/xrt/strip'."""
    name = name.strip()
    if not name:
        raise BagError("empty topic name")
    return name if name.startswith("/") else "/" + name


class BagReader:
    """Read a rosbag2 MCAP bag. Cheap to construct: files are opened while iterating."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_file():
            if self.path.suffix != ".mcap":
                raise BagError(f"{self.path}: only MCAP storage (.mcap) is supported")
            self.files = [self.path]
            self.metadata = metadata_from_scans([scan_file(self.path)])
        elif self.path.is_dir():
            self.metadata = BagMetadata.read(self.path)
            storage = self.metadata.storage_identifier
            if storage != "mcap":
                raise BagError(
                    f"{self.path}: storage {storage!r} is not supported here, only 'mcap' "
                    "(convert it on a ROS machine: ros2 bag convert, output storage_id mcap)")
            if self.metadata.compression_mode:
                raise BagError(
                    f"{self.path}: rosbag2 {self.metadata.compression_mode}-mode "
                    f"{self.metadata.compression_format} compression is not supported; "
                    "record with MCAP chunk compression instead (the default here)")
            self.files = [self.path / f.path for f in self.metadata.files]
            missing = [str(f) for f in self.files if not f.is_file()]
            if missing:
                raise BagError(f"{self.path}: metadata.yaml lists files that are missing: "
                               + ", ".join(missing))
        else:
            raise BagError(f"no bag at {self.path}")

    @property
    def topics(self) -> list[TopicInfo]:
        return list(self.metadata.topics)

    def topic_types(self) -> dict[str, str]:
        return {t.name: t.type for t in self.metadata.topics}

    def select(self, topics: Iterable[str] | None) -> list[str]:
        """Resolve requested topic names against the bag; unknown ones are an error."""
        known = self.topic_types()
        if topics is None:
            return list(known)
        chosen = []
        for name in topics:
            full = absolute_topic(name)
            if full not in known:
                raise BagError(f"topic {full!r} is not in {self.path} "
                               f"(topics: {', '.join(known) or 'none'})")
            chosen.append(full)
        return chosen

    def _file_messages(self, path: Path, topics: list[str], start_ns: int | None,
                       end_ns: int | None) -> Iterator[BagMessage]:
        try:
            with open(path, "rb") as stream:
                reader = make_reader(stream)
                for schema, channel, message in reader.iter_messages(
                        topics=topics, start_time=start_ns, end_time=end_ns,
                        log_time_order=True):
                    yield BagMessage(
                        topic=channel.topic,
                        type=schema.name if schema is not None else "",
                        log_time_ns=message.log_time,
                        publish_time_ns=message.publish_time or message.log_time,
                        sequence=message.sequence,
                        data=bytes(message.data),
                    )
        except BagError:
            raise
        except OSError as err:
            raise BagError(f"cannot read {path}: {err}") from None
        except Exception as err:  # noqa: BLE001 - mcap/zstd/struct errors: a damaged file
            raise BagError(
                f"{path} is damaged or truncated ({type(err).__name__}: {err}); "
                f"`sorter bag repair --force {self.path}` salvages what is readable"
            ) from None

    def messages(self, topics: Iterable[str] | None = None, start_ns: int | None = None,
                 end_ns: int | None = None) -> Iterator[BagMessage]:
        """Messages of `topics` (all if None) with start_ns <= log time < end_ns, in log-time
        order across all files (ties keep file order)."""
        chosen = self.select(topics)
        streams = [self._file_messages(p, chosen, start_ns, end_ns) for p in self.files]
        if len(streams) == 1:
            yield from streams[0]
            return
        yield from heapq.merge(*streams, key=lambda m: m.log_time_ns)

    def definitions(self) -> dict[str, tuple[str, str]]:
        """type -> (schema encoding, schema text) as embedded in the bag."""
        found: dict[str, tuple[str, str]] = {}
        for path in self.files:
            try:
                with open(path, "rb") as stream:
                    summary = make_reader(stream).get_summary()
            except Exception as err:  # noqa: BLE001
                raise BagError(f"{path} has no readable summary ({err})") from None
            if summary is None:
                continue
            for schema in summary.schemas.values():
                found.setdefault(schema.name, (schema.encoding, schema.data.decode("utf-8")))
        return found
