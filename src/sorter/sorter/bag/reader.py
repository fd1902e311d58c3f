"""Offline bag reader (ROS-free): serialized messages in log-time order.

Why here and not rosbags' AnyReader: the player and the offline regression run need the raw
CDR bytes, exactly as recorded, with log time, publish time and sequence number, merged across
split files, from bags written by this package, by `ros2 bag record -s mcap` or by rosbags; and
every failure (missing metadata, missing or corrupt file, unknown topic) must say what to do.
Decoding is left to the caller (rclpy's deserialize_message in ROS processes).

A path may be a bag folder (metadata.yaml + files) or a single ``.mcap`` file.

Names as rosbag2 writes them, normalised once here: topics may be recorded relative (rosbag2's
writer API takes ``topic`` as given, and its own test bags use such names); ``ros2 bag play``
publishes such a name as recorded, which a node in the root namespace resolves to ``/topic``.
So every topic is known by its fully qualified name (``/topic``), whichever way the bag spells
it, and filters accept either spelling. Message types in the older ``pkg/Type`` spelling are
read as ``pkg/msg/Type``. ``metadata`` keeps the names exactly as the bag has them.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from mcap.reader import make_reader

from sorter.bag.definitions import normal_type_name
from sorter.bag.errors import BagError
from sorter.bag.metadata import BagMetadata, TopicInfo
from sorter.bag.repair import metadata_from_scans, scan_file


@dataclass(frozen=True)
class BagMessage:
    topic: str              # fully qualified ('/topic' for a bag's relative 'topic')
    type: str               # pkg/msg/Type
    log_time_ns: int        # when the recorder received it
    publish_time_ns: int    # when the publisher sent it (= log time in bags that lack it)
    sequence: int           # publisher's sequence number, 0 if not recorded
    data: bytes             # serialized (CDR) message
    recorded_topic: str = ""  # the name as the bag spells it


def absolute_topic(name: str) -> str:
    """The fully qualified name: 'xrt/strip' (relative, as a node in the root namespace
    resolves it) means '/xrt/strip'."""
    name = str(name).strip()
    if not name or name == "/":
        raise BagError(f"{name!r} is not a topic name")
    return name if name.startswith("/") else "/" + name


def compile_regex(pattern: str | None, what: str) -> re.Pattern[str] | None:
    """A user's regular expression, or a BagError saying what is wrong with it."""
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as err:
        raise BagError(f"{what} {pattern!r} is not a regular expression: {err}") from None


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
        self._normalise_topics()

    def _normalise_topics(self) -> None:
        """One TopicInfo per fully qualified name, type spelled pkg/msg/Type. A name recorded
        in both spellings is one topic (counts summed, offered QoS of both); recorded with
        two different types it is kept with the first, and the conflict noted in
        `conflicts` (a player cannot publish both on one topic)."""
        self._topics: dict[str, TopicInfo] = {}
        self.recorded_names: dict[str, list[str]] = {}
        self.conflicts: dict[str, str] = {}
        for info in self.metadata.topics:
            try:
                name = absolute_topic(info.name)
            except BagError:
                raise BagError(f"{self.path}: a topic is named {info.name!r}, which is no "
                               "topic name (damaged metadata?)") from None
            kind = normal_type_name(info.type)
            known = self._topics.get(name)
            if known is None:
                self._topics[name] = replace(info, name=name, type=kind,
                                             offered_qos=list(info.offered_qos))
                self.recorded_names[name] = [info.name]
                continue
            if info.name not in self.recorded_names[name]:
                self.recorded_names[name].append(info.name)
            if kind != known.type:
                self.conflicts[name] = (
                    f"recorded as {', '.join(repr(n) for n in self.recorded_names[name])} "
                    f"with types {known.type} and {kind}")
                continue
            known.message_count += info.message_count
            known.offered_qos += [q for q in info.offered_qos if q not in known.offered_qos]

    @property
    def topics(self) -> list[TopicInfo]:
        """The bag's topics by fully qualified name, in the bag's order."""
        return list(self._topics.values())

    def topic_types(self) -> dict[str, str]:
        return {name: t.type for name, t in self._topics.items()}

    def topic(self, name: str) -> TopicInfo:
        """A topic by either spelling of its name."""
        return self._topics[self.select([name])[0]]

    def select(self, topics: Iterable[str] | None) -> list[str]:
        """Resolve requested topic names (relative or absolute) against the bag: their fully
        qualified names, each once; an unknown one is an error."""
        if topics is None:
            return list(self._topics)
        if isinstance(topics, str):
            topics = [topics]
        chosen: list[str] = []
        for name in topics:
            full = absolute_topic(name)
            if full not in self._topics:
                raise BagError(f"topic {full!r} is not in {self.path} "
                               f"(topics: {', '.join(self._topics) or 'none'})")
            if full not in chosen:
                chosen.append(full)
        return chosen

    def _file_messages(self, path: Path, topics: list[str], start_ns: int | None,
                       end_ns: int | None) -> Iterator[BagMessage]:
        wanted = set(topics)
        # A channel may spell a name either way, whatever metadata.yaml says: ask for both.
        spellings = sorted({n for t in topics for n in (t, t.lstrip("/"))})
        try:
            with open(path, "rb") as stream:
                reader = make_reader(stream)
                for schema, channel, message in reader.iter_messages(
                        topics=spellings, start_time=start_ns, end_time=end_ns,
                        log_time_order=True):
                    name = absolute_topic(channel.topic)
                    if name not in wanted:
                        continue
                    yield BagMessage(
                        topic=name,
                        type=(normal_type_name(schema.name) if schema is not None
                              else self._topics[name].type),
                        log_time_ns=message.log_time,
                        publish_time_ns=message.publish_time or message.log_time,
                        sequence=message.sequence,
                        data=bytes(message.data),
                        recorded_topic=channel.topic,
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
                found.setdefault(normal_type_name(schema.name),
                                 (schema.encoding, schema.data.decode("utf-8", "replace")))
        return found
