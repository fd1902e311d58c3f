"""Offered QoS profiles as rosbag2 stores them (ROS-free).

Why: a player must offer what the original publishers offered (a transient-local calibration
topic replayed as volatile loses its late joiners; a best-effort camera replayed as reliable
can stall). rosbag2 keeps, per topic, the list of profiles the publishers offered, in
``metadata.yaml`` and in each MCAP channel's ``offered_qos_profiles`` metadata.

Two spellings exist and both must be read:

* metadata version <= 8 (Humble, Iron): policies as the rmw enum integers, and the list is a
  YAML *string* inside metadata.yaml;
* metadata version 9 (Jazzy and later): policies as rmw's lower-case names (``keep_last``,
  ``reliable``, ``transient_local``, ``automatic``, ``unknown``...), and the list is a YAML
  sequence in metadata.yaml (still a string inside the MCAP channel metadata).

Durations are ``{sec, nsec}``; "infinite" is the int64 nanosecond maximum split as
sec 9223372036 / nsec 854775807, as Fast DDS reports it for remote endpoints. History depth
of a remote publisher is unknown to the middleware (history ``unknown``, depth 0): recorded as
such, and a player chooses its own depth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from sorter.bag.errors import BagError

INFINITE_NS = 2**63 - 1
NS_PER_S = 1_000_000_000
# Foxy-era bags carry each rmw's own "infinite" (Fast DDS, Connext) as {sec, nsec}.
FOXY_INFINITE = {(0x7FFFFFFF, 0xFFFFFFFF), (0x7FFFFFFF, 0x7FFFFFFF)}

# rmw enum values, identical to rclpy's HistoryPolicy/ReliabilityPolicy/... values.
HISTORY = {"system_default": 0, "keep_last": 1, "keep_all": 2, "unknown": 3}
RELIABILITY = {"system_default": 0, "reliable": 1, "best_effort": 2, "unknown": 3,
               "best_available": 4}
DURABILITY = {"system_default": 0, "transient_local": 1, "volatile": 2, "unknown": 3,
              "best_available": 4}
LIVELINESS = {"system_default": 0, "automatic": 1, "manual_by_node": 2, "manual_by_topic": 3,
              "unknown": 4, "best_available": 5}
POLICIES = {"history": HISTORY, "reliability": RELIABILITY, "durability": DURABILITY,
            "liveliness": LIVELINESS}


@dataclass(frozen=True)
class QosRecord:
    """One offered profile. Policies by rmw name; durations in ns (INFINITE_NS = infinite,
    0 = unspecified)."""

    history: str = "unknown"
    depth: int = 0
    reliability: str = "reliable"
    durability: str = "volatile"
    deadline_ns: int = INFINITE_NS
    lifespan_ns: int = INFINITE_NS
    liveliness: str = "automatic"
    liveliness_lease_duration_ns: int = INFINITE_NS
    avoid_ros_namespace_conventions: bool = False

    def __post_init__(self) -> None:
        for name, table in POLICIES.items():
            if getattr(self, name) not in table:
                raise BagError(f"QoS {name} {getattr(self, name)!r} is not one of {list(table)}")

    def to_dict(self, version: int) -> dict[str, Any]:
        """The mapping rosbag2 writes for metadata `version` (ints before 9, names from 9)."""

        def policy(name: str) -> int | str:
            value = getattr(self, name)
            return POLICIES[name][value] if version < 9 else value

        return {
            "history": policy("history"),
            "depth": int(self.depth),
            "reliability": policy("reliability"),
            "durability": policy("durability"),
            "deadline": _duration_dict(self.deadline_ns),
            "lifespan": _duration_dict(self.lifespan_ns),
            "liveliness": policy("liveliness"),
            "liveliness_lease_duration": _duration_dict(self.liveliness_lease_duration_ns),
            "avoid_ros_namespace_conventions": bool(self.avoid_ros_namespace_conventions),
        }

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> QosRecord:
        """Read either spelling (ints or names); missing keys raise BagError."""
        if not isinstance(body, dict):
            raise BagError(f"QoS profile must be a mapping, got {body!r}")
        try:
            return cls(
                history=_policy_name("history", body["history"]),
                depth=int(body["depth"]),
                reliability=_policy_name("reliability", body["reliability"]),
                durability=_policy_name("durability", body["durability"]),
                deadline_ns=_duration_ns(body["deadline"]),
                lifespan_ns=_duration_ns(body["lifespan"]),
                liveliness=_policy_name("liveliness", body["liveliness"]),
                liveliness_lease_duration_ns=_duration_ns(body["liveliness_lease_duration"]),
                avoid_ros_namespace_conventions=bool(
                    body.get("avoid_ros_namespace_conventions", False)),
            )
        except KeyError as err:
            raise BagError(f"QoS profile lacks {err.args[0]!r}: {body!r}") from None
        except (TypeError, ValueError) as err:
            raise BagError(f"QoS profile {body!r} is malformed: {err}") from None


def _duration_dict(ns: int) -> dict[str, int]:
    return {"sec": int(ns) // NS_PER_S, "nsec": int(ns) % NS_PER_S}


def _duration_ns(body: Any) -> int:
    if not isinstance(body, dict):
        raise TypeError(f"duration must be {{sec, nsec}}, got {body!r}")
    sec, nsec = int(body["sec"]), int(body["nsec"])
    if (sec, nsec) in FOXY_INFINITE:
        return INFINITE_NS
    # Anything at or past int64 max nanoseconds (Cyclone's Foxy value included) is infinite.
    return min(sec * NS_PER_S + nsec, INFINITE_NS)


def _policy_name(name: str, value: Any) -> str:
    table = POLICIES[name]
    if isinstance(value, bool):
        raise ValueError(f"{name} {value!r}")
    if isinstance(value, int):
        for key, number in table.items():
            if number == value:
                return key
        raise ValueError(f"{name} value {value} is no rmw {name} policy")
    text = str(value).strip().lower()
    if text not in table:
        raise ValueError(f"{name} {value!r} is no rmw {name} policy")
    return text


def dump_profiles(profiles: list[QosRecord], version: int) -> str:
    """The YAML text rosbag2 puts in an MCAP channel's metadata (and, before version 9, in
    metadata.yaml): a block sequence, '' for no profiles."""
    if not profiles:
        return ""
    return yaml.safe_dump([p.to_dict(version) for p in profiles], sort_keys=False,
                          default_flow_style=False).strip()


def load_profiles(value: Any) -> list[QosRecord]:
    """Profiles from a YAML string (any version), an already parsed list, '' or None."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise BagError(f"offered_qos_profiles is not YAML: {err}") from None
        if value is None:
            return []
    if not isinstance(value, list):
        raise BagError(f"offered_qos_profiles must be a list, got {type(value).__name__}")
    return [QosRecord.from_dict(item) for item in value]
