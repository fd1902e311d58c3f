"""rosbag2 ``metadata.yaml``, versions 8 and 9 (ROS-free).

Why both: Jazzy's rosbag2 writes version 9 (offered QoS as a YAML sequence of policy names) and
reads 1..9; Humble and Iron read up to 8 (QoS as a YAML string of integers) and choke on a
version-9 sequence. Version 9 is the default here, the format the project's distro writes;
version 8 is one option away for a Humble or Iron desk.

The field names and the fields each version requires follow rosbag2_storage's YAML decoder:
every key that decoder reads unconditionally for a version is always written, and the reader
below refuses a file that lacks one, naming it (a half-written or hand-edited metadata.yaml is
common after a crash).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sorter.bag.errors import BagError
from sorter.bag.qos_yaml import QosRecord, dump_profiles, load_profiles

METADATA_FILE = "metadata.yaml"
SUPPORTED_VERSIONS = (8, 9)
DEFAULT_VERSION = 9
ROOT_KEY = "rosbag2_bagfile_information"


def default_ros_distro() -> str:
    """The distro named in the bag: the sourced one, else the wheels' (Jazzy)."""
    return os.environ.get("ROS_DISTRO") or "jazzy"


@dataclass
class TopicInfo:
    """One topic of the bag, with what rosbag2 keeps about it."""

    name: str
    type: str
    serialization_format: str = "cdr"
    offered_qos: list[QosRecord] = field(default_factory=list)
    type_description_hash: str = ""
    message_count: int = 0


@dataclass
class FileInfo:
    """One storage file (relative to the bag folder)."""

    path: str
    starting_time_ns: int
    duration_ns: int
    message_count: int


@dataclass
class BagMetadata:
    """The content of metadata.yaml."""

    topics: list[TopicInfo]
    files: list[FileInfo]
    version: int = DEFAULT_VERSION
    storage_identifier: str = "mcap"
    compression_format: str = ""
    compression_mode: str = ""
    custom_data: dict[str, str] = field(default_factory=dict)
    ros_distro: str = field(default_factory=default_ros_distro)

    @property
    def message_count(self) -> int:
        return sum(f.message_count for f in self.files)

    @property
    def starting_time_ns(self) -> int:
        starts = [f.starting_time_ns for f in self.files if f.message_count]
        return min(starts) if starts else 0

    @property
    def end_time_ns(self) -> int:
        ends = [f.starting_time_ns + f.duration_ns for f in self.files if f.message_count]
        return max(ends) if ends else 0

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_time_ns - self.starting_time_ns)

    def topic(self, name: str) -> TopicInfo:
        for topic in self.topics:
            if topic.name == name:
                return topic
        known = ", ".join(t.name for t in self.topics) or "none"
        raise BagError(f"topic {name!r} is not in the bag (topics: {known})")

    # -- write ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        if self.version not in SUPPORTED_VERSIONS:
            raise BagError(f"metadata version {self.version} cannot be written: "
                           f"choose one of {SUPPORTED_VERSIONS}")

        def qos(topic: TopicInfo) -> Any:
            if self.version >= 9:
                return [p.to_dict(9) for p in topic.offered_qos]
            return dump_profiles(topic.offered_qos, self.version)

        return {ROOT_KEY: {
            "version": self.version,
            "storage_identifier": self.storage_identifier,
            "duration": {"nanoseconds": self.duration_ns},
            "starting_time": {"nanoseconds_since_epoch": self.starting_time_ns},
            "message_count": self.message_count,
            "topics_with_message_count": [
                {
                    "topic_metadata": {
                        "name": t.name,
                        "type": t.type,
                        "serialization_format": t.serialization_format,
                        "offered_qos_profiles": qos(t),
                        "type_description_hash": t.type_description_hash,
                    },
                    "message_count": t.message_count,
                }
                for t in self.topics
            ],
            "compression_format": self.compression_format,
            "compression_mode": self.compression_mode,
            "relative_file_paths": [f.path for f in self.files],
            "files": [
                {
                    "path": f.path,
                    "starting_time": {"nanoseconds_since_epoch": f.starting_time_ns},
                    "duration": {"nanoseconds": f.duration_ns},
                    "message_count": f.message_count,
                }
                for f in self.files
            ],
            "custom_data": dict(self.custom_data) or None,
            "ros_distro": self.ros_distro,
        }}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False,
                              width=100)

    def write(self, bag_dir: Path) -> Path:
        """Write metadata.yaml atomically (a reader never sees half a file)."""
        path = Path(bag_dir) / METADATA_FILE
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(self.to_yaml(), encoding="utf-8")
        tmp.replace(path)
        return path

    # -- read -------------------------------------------------------------------------------
    @classmethod
    def from_yaml(cls, text: str, where: str = METADATA_FILE) -> BagMetadata:
        try:
            body = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise BagError(f"{where} is not valid YAML: {err}") from None
        if not isinstance(body, dict) or not isinstance(body.get(ROOT_KEY), dict):
            raise BagError(f"{where} has no {ROOT_KEY!r} mapping: not rosbag2 metadata")
        return _parse(body[ROOT_KEY], where)

    @classmethod
    def read(cls, bag_dir: Path) -> BagMetadata:
        path = Path(bag_dir) / METADATA_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise BagError(
                f"{bag_dir} has no {METADATA_FILE}: the recording did not finish (crash or "
                f"kill?). Rebuild it from the MCAP files with `sorter bag repair {bag_dir}`"
            ) from None
        except OSError as err:
            raise BagError(f"cannot read {path}: {err}") from None
        return cls.from_yaml(text, str(path))


def _need(body: dict[str, Any], key: str, where: str) -> Any:
    if key not in body:
        raise BagError(f"{where}: field {key!r} is missing")
    return body[key]


def _ns(body: dict[str, Any], key: str, inner: str, where: str) -> int:
    value = _need(body, key, where)
    if not isinstance(value, dict) or inner not in value:
        raise BagError(f"{where}: {key} must be {{{inner}: int}}, got {value!r}")
    try:
        return int(value[inner])
    except (TypeError, ValueError):
        raise BagError(f"{where}: {key}.{inner} is not an integer: {value[inner]!r}") from None


def _parse(info: dict[str, Any], where: str) -> BagMetadata:
    version = _need(info, "version", where)
    if not isinstance(version, int) or not 1 <= version <= 9:
        raise BagError(f"{where}: metadata version {version!r} is not one rosbag2 knows (1..9)")
    topics = []
    entries = _need(info, "topics_with_message_count", where) or []
    if not isinstance(entries, list):
        raise BagError(f"{where}: topics_with_message_count must be a list")
    for i, entry in enumerate(entries):
        at = f"{where}: topic #{i}"
        meta = _need(entry, "topic_metadata", at) if isinstance(entry, dict) else None
        if not isinstance(meta, dict):
            raise BagError(f"{at} has no topic_metadata mapping")
        qos_value = _need(meta, "offered_qos_profiles", at) if version >= 4 else ""
        topics.append(TopicInfo(
            name=str(_need(meta, "name", at)),
            type=str(_need(meta, "type", at)),
            serialization_format=str(_need(meta, "serialization_format", at)),
            offered_qos=load_profiles(qos_value),
            type_description_hash=str(meta.get("type_description_hash") or ""),
            message_count=int(_need(entry, "message_count", at)),
        ))
    paths = _need(info, "relative_file_paths", where) or []
    files = []
    if version >= 5 and info.get("files"):
        for i, item in enumerate(info["files"]):
            at = f"{where}: files[{i}]"
            if not isinstance(item, dict):
                raise BagError(f"{at} is not a mapping")
            files.append(FileInfo(
                path=str(_need(item, "path", at)),
                starting_time_ns=_ns(item, "starting_time", "nanoseconds_since_epoch", at),
                duration_ns=_ns(item, "duration", "nanoseconds", at),
                message_count=int(_need(item, "message_count", at)),
            ))
    else:
        # Old bags list the paths only: one pseudo file carries the bag's totals.
        start = _ns(info, "starting_time", "nanoseconds_since_epoch", where)
        duration = _ns(info, "duration", "nanoseconds", where)
        count = int(_need(info, "message_count", where))
        files = [FileInfo(str(p), start, duration, count if i == 0 else 0)
                 for i, p in enumerate(paths)]
    custom = info.get("custom_data") or {}
    if not isinstance(custom, dict):
        raise BagError(f"{where}: custom_data must be a mapping")
    return BagMetadata(
        topics=topics,
        files=files,
        version=version,
        storage_identifier=str(_need(info, "storage_identifier", where)),
        compression_format=str(info.get("compression_format") or ""),
        compression_mode=str(info.get("compression_mode") or ""),
        custom_data={str(k): str(v) for k, v in custom.items()},
        ros_distro=str(info.get("ros_distro") or ""),
    )
