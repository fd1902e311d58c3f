"""`sorter bag info`: what a bag holds, laid out like `ros2 bag info` (ROS-free).

Besides rosbag2's summary it shows each topic's recorded QoS and, for bags recorded here, the
recorder's loss accounting (custom_data ``sorter.loss``), and it warns about MCAP files in the
folder that metadata.yaml does not list (a sign of a crash after a split).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sorter.bag.reader import BagReader
from sorter.bag.repair import bag_files


def bag_info(path: str | Path) -> dict[str, Any]:
    reader = BagReader(path)
    meta = reader.metadata
    size = sum(f.stat().st_size for f in reader.files)
    unlisted = []
    if reader.path.is_dir():
        listed = {f.name for f in reader.files}
        unlisted = [p.name for p in bag_files(reader.path) if p.name not in listed]
    loss = meta.custom_data.get("sorter.loss")
    return {
        "path": str(reader.path),
        "files": [f.path for f in meta.files],
        "unlisted_files": unlisted,
        "bytes": size,
        "storage_identifier": meta.storage_identifier,
        "metadata_version": meta.version,
        "ros_distro": meta.ros_distro,
        "start_ns": meta.starting_time_ns,
        "end_ns": meta.end_time_ns,
        "duration_s": meta.duration_ns / 1e9,
        "messages": meta.message_count,
        "topics": [
            {"name": t.name, "type": t.type, "count": t.message_count,
             "serialization_format": t.serialization_format,
             "type_description_hash": t.type_description_hash,
             "offered_qos": [
                 {"reliability": q.reliability, "durability": q.durability,
                  "history": q.history, "depth": q.depth}
                 for q in t.offered_qos]}
            for t in meta.topics
        ],
        "loss": json.loads(loss) if loss else None,
        "custom_data": {k: v for k, v in meta.custom_data.items() if k != "sorter.loss"},
    }


def _stamp(ns: int) -> str:
    """Local date and time to the millisecond, then seconds since the epoch; both from the
    integer (a float of ~1.7e18 ns rounds to the next second)."""
    seconds, rest = divmod(int(ns), 1_000_000_000)
    return time.strftime("%b %d %Y %H:%M:%S", time.localtime(seconds)) + \
        f".{rest // 1_000_000:03d} ({seconds}.{rest // 1_000_000:03d})"


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def format_info(info: dict[str, Any]) -> str:
    width = max((len(t["name"]) for t in info["topics"]), default=0)
    lines = [
        f"Files:             {', '.join(info['files'])}",
        f"Bag size:          {_human(info['bytes'])}",
        f"Storage id:        {info['storage_identifier']} (metadata v{info['metadata_version']})",
        f"ROS Distro:        {info['ros_distro']}",
        f"Duration:          {info['duration_s']:.3f}s",
        f"Start:             {_stamp(info['start_ns'])}",
        f"End:               {_stamp(info['end_ns'])}",
        f"Messages:          {info['messages']}",
        "Topic information:",
    ]
    for t in info["topics"]:
        qos = ", ".join(sorted({f"{q['reliability']}/{q['durability']}"
                                for q in t["offered_qos"]})) or "no QoS recorded"
        lines.append(f"  {t['name']:<{width}}  {t['type']}  {t['count']} msgs  "
                     f"{t['serialization_format']}  [{qos}]")
    if info["loss"]:
        lost = sum(int(v["gaps"]) for v in info["loss"].values())
        lines.append(f"Loss (sequence gaps): {lost}")
        for topic, v in info["loss"].items():
            if v["gaps"] or v["before_subscription"]:
                lines.append(f"  {topic}: {v['gaps']} lost, {v['before_subscription']} sent "
                             "before the recorder subscribed")
    for key, value in info["custom_data"].items():
        lines.append(f"{key}: {value}")
    if info["unlisted_files"]:
        lines.append("WARNING: files not in metadata.yaml (crash after a split?): "
                     + ", ".join(info["unlisted_files"])
                     + f"; run `sorter bag repair --force {info['path']}`")
    return "\n".join(lines)
