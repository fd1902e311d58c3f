"""Message definitions and type hashes for the bag's schemas (ROS-free).

Why: a bag must be readable where our message packages are not installed (a desk without
`sorter_interfaces`, Foxglove, `rosbags`). rosbag2 therefore embeds each topic type's full
definition in the MCAP schema, encoding ``ros2msg``: the type's own ``.msg`` text, then every
type it uses, each after a delimiter line of 80 ``=`` and a ``MSG: pkg/Type`` line, depth first
with each package's dependencies in sorted order and each type given once. Readers (rosbags,
mcap-ros2-support, Foxglove) parse exactly that layout, so it is reproduced here byte for byte.

The definitions come from the installed ``share/<pkg>/msg/<Type>.msg`` files (the venv prefix or
any AMENT_PREFIX_PATH entry), the same files rosbag2 reads; the RIHS01 type hash comes from the
``.json`` type description rosidl generates beside them.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from sorter.bag.errors import BagError

DELIMITER = "=" * 80 + "\n"
PRIMITIVES = frozenset({
    "bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16",
    "int32", "uint32", "int64", "uint64", "string", "wstring",
})


@dataclass(frozen=True)
class MessageDefinition:
    """What goes into an MCAP schema record."""

    type_name: str      # pkg/msg/Type
    encoding: str       # ros2msg
    text: str


def split_type_name(type_name: str) -> tuple[str, str, str]:
    """'pkg/msg/Type' or 'pkg/Type' -> (pkg, 'msg', Type); BagError for anything else."""
    parts = type_name.split("/")
    if len(parts) == 2 and all(parts):
        return parts[0], "msg", parts[1]
    if len(parts) == 3 and all(parts):
        return parts[0], parts[1], parts[2]
    raise BagError(f"message type {type_name!r} is not of the form pkg/msg/Type")


def full_type_name(type_name: str) -> str:
    pkg, ns, name = split_type_name(type_name)
    return f"{pkg}/{ns}/{name}"


def share_dirs() -> list[Path]:
    """Where installed interface files are looked for: each AMENT_PREFIX_PATH entry's share/,
    then this interpreter's prefix (the venv, where setup installs sorter_interfaces)."""
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    prefixes.append(sys.prefix)
    seen: list[Path] = []
    for prefix in prefixes:
        share = Path(prefix) / "share"
        if share.is_dir() and share not in seen:
            seen.append(share)
    return seen


def _interface_file(pkg: str, ns: str, name: str, suffix: str) -> Path | None:
    for share in share_dirs():
        candidate = share / pkg / ns / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def msg_dependencies(text: str, package: str) -> set[str]:
    """Non-primitive field types of a .msg text, as 'pkg/Type' (package-relative names are
    qualified with `package`). Constants and comments contribute nothing."""
    deps: set[str] = set()
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) < 2:
            continue
        base = fields[0].split("[", 1)[0].split("<=", 1)[0]
        if not base or base in PRIMITIVES:
            continue
        deps.add(base if "/" in base else f"{package}/{base}")
    return deps


@functools.lru_cache(maxsize=256)
def _msg_text(pkg: str, name: str) -> str:
    path = _interface_file(pkg, "msg", name, ".msg")
    if path is None:
        searched = ", ".join(str(s) for s in share_dirs()) or "(none)"
        raise BagError(
            f"no definition of {pkg}/msg/{name}: package {pkg!r} is not installed here "
            f"(searched {searched}; set AMENT_PREFIX_PATH to its install prefix)"
        )
    return path.read_text(encoding="utf-8")


@functools.lru_cache(maxsize=256)
def message_definition(type_name: str) -> MessageDefinition:
    """The ros2msg schema text of `type_name` with its dependencies concatenated."""
    pkg, ns, name = split_type_name(type_name)
    if ns != "msg":
        raise BagError(f"{type_name}: only message types (pkg/msg/Type) can be recorded")
    seen: set[str] = set()

    def expand(package: str, type_: str) -> str:
        text = _msg_text(package, type_)
        for dep in sorted(msg_dependencies(text, package)):
            if dep in seen:
                continue
            seen.add(dep)
            dep_pkg, _, dep_name = split_type_name(dep)
            text += "\n" + DELIMITER + f"MSG: {dep}\n" + expand(dep_pkg, dep_name)
        return text

    return MessageDefinition(f"{pkg}/msg/{name}", "ros2msg", expand(pkg, name))


@functools.lru_cache(maxsize=256)
def type_hash(type_name: str) -> str:
    """RIHS01 hash of `type_name` from its installed type description, '' if unavailable
    (rosbag2 writes '' too when it does not know it)."""
    pkg, ns, name = split_type_name(type_name)
    path = _interface_file(pkg, ns, name, ".json")
    if path is None:
        return ""
    try:
        hashes = json.loads(path.read_text(encoding="utf-8"))["type_hashes"]
    except (OSError, ValueError, KeyError):
        return ""
    wanted = f"{pkg}/{ns}/{name}"
    for entry in hashes:
        if entry.get("type_name") == wanted:
            return str(entry.get("hash_string", ""))
    return ""
