"""Sanity check of the unsigned ROS 2 wheels: pinned versions installed, rclpy loads its
middleware, and a message makes a round trip in one process. Fails loudly, never silently."""

from __future__ import annotations

import re
import sys
import time
from importlib import metadata
from pathlib import Path


def check_pins(requirements: Path) -> list[str]:
    problems = []
    for line in requirements.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s#]+)", line.strip())
        if not m:
            continue
        name, want = m.groups()
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name} is not installed (want {want})")
            continue
        if have != want:
            problems.append(f"{name} {have} installed, {want} pinned")
    return problems


def round_trip() -> None:
    import rclpy
    from std_msgs.msg import String

    rclpy.init(args=["--ros-args", "--log-level", "warn"])
    try:
        node = rclpy.create_node("sorter_wheel_check")
        got: list[str] = []
        node.create_subscription(String, "wheel_check", lambda m: got.append(m.data), 10)
        pub = node.create_publisher(String, "wheel_check", 10)
        deadline = time.monotonic() + 10.0
        while not got and time.monotonic() < deadline:
            pub.publish(String(data="ping"))
            rclpy.spin_once(node, timeout_sec=0.05)
        if got != [] and got[0] != "ping":
            raise RuntimeError(f"round trip returned {got[0]!r}")
        if not got:
            raise RuntimeError("no message came back within 10 s")
        node.destroy_node()
    finally:
        rclpy.shutdown()


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    distro = "jazzy" if any(
        p.startswith("ros-jazzy-") for p in (d.metadata["Name"] for d in metadata.distributions())
    ) else "kilted"
    problems = check_pins(root / "requirements" / f"ros-{distro}.txt")
    if problems:
        print("wheel check: " + "; ".join(problems), file=sys.stderr)
        return 1
    round_trip()
    print(f"wheel check: ROS 2 {distro} wheels ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
