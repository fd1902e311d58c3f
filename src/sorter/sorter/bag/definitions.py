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
import importlib
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sorter.bag.errors import BagError

DELIMITER = "=" * 80 + "\n"
_NAME_PART = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
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
    """'pkg/msg/Type' or the older 'pkg/Type' spelling (ROS 1, early rosbag2 bags) ->
    (pkg, 'msg', Type); BagError for anything else. Each part must be a name (letters, digits,
    underscores), so a type string from a bag can never reach the import system as a path."""
    parts = str(type_name).strip().split("/")
    if len(parts) == 2:
        parts.insert(1, "msg")
    if len(parts) == 3 and all(_NAME_PART.fullmatch(part) for part in parts):
        return parts[0], parts[1], parts[2]
    raise BagError(f"message type {type_name!r} is not of the form pkg/msg/Type (or pkg/Type)")


def full_type_name(type_name: str) -> str:
    pkg, ns, name = split_type_name(type_name)
    return f"{pkg}/{ns}/{name}"


def normal_type_name(type_name: str) -> str:
    """The pkg/msg/Type spelling of a type as a bag names it; a malformed name is returned as
    is (whoever needs the class then says what is wrong with it)."""
    try:
        return full_type_name(type_name)
    except BagError:
        return type_name


def message_class(type_name: str) -> Any:
    """The Python class of a message type (pkg/msg/Type or pkg/Type); BagError saying why if
    it is malformed, not installed here, or not a message (a service, say)."""
    pkg, ns, name = split_type_name(type_name)
    full = f"{pkg}/{ns}/{name}"
    try:
        module = importlib.import_module(f"{pkg}.{ns}")
    except ImportError as err:
        raise BagError(f"message type {full} is not installed here ({err})") from None
    except Exception as err:  # noqa: BLE001 - a broken package must not take the caller down
        raise BagError(f"message type {full} cannot be imported "
                       f"({type(err).__name__}: {err})") from None
    cls = getattr(module, name, None)
    if not isinstance(cls, type):
        raise BagError(f"message type {full} is not installed here (package {pkg!r} has no "
                       f"{ns} {name!r})")
    try:
        from rclpy.type_support import check_is_valid_msg_type

        check_is_valid_msg_type(cls)
    except ImportError:  # no rclpy: the class is what was asked for; its user needs rclpy
        pass
    except Exception as err:  # noqa: BLE001 - type support missing, or a service/action
        raise BagError(f"{full} is not a usable message type ({err})") from None
    return cls


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
