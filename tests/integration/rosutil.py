"""Helpers for tests that talk to real node processes: a probe node in the test process and
condition waits with timeouts (never sleep-and-hope)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class Probe:
    """A test-side rclpy node: publish, collect, and spin until a condition holds."""

    def __init__(self, name: str = "test_probe") -> None:
        import rclpy

        self.rclpy = rclpy
        rclpy.init()
        self.node = rclpy.create_node(name)
        self.received: dict[str, list[Any]] = {}

    def collect(self, msg_type: Any, topic: str, qos: Any = 10) -> list[Any]:
        bucket = self.received.setdefault(topic, [])
        self.node.create_subscription(msg_type, topic, bucket.append, qos)
        return bucket

    def wait_until(self, condition: Callable[[], bool], timeout_s: float) -> bool:
        """Spin until `condition` holds; False if it did not within `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                return False
            self.rclpy.spin_once(self.node, timeout_sec=0.05)
        return True

    def wait_for(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        if not self.wait_until(condition, timeout_s):
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")

    def wait_for_subscriber(self, publisher: Any, timeout_s: float = 15.0) -> None:
        self.wait_for(lambda: publisher.get_subscription_count() > 0, timeout_s,
                      f"a subscriber on {publisher.topic_name}")

    def wait_for_graph(self, topic: str, publishers: int = 0, subscribers: int = 0,
                       timeout_s: float = 15.0) -> None:
        """Messages sent before discovery matched both ends are lost: wait for the match."""
        self.wait_for(
            lambda: self.node.count_publishers(topic) >= publishers
            and self.node.count_subscribers(topic) >= subscribers,
            timeout_s, f"{publishers} publishers / {subscribers} subscribers on {topic}",
        )

    def call(self, srv_type: Any, name: str, request: Any, timeout_s: float = 10.0) -> Any:
        client = self.node.create_client(srv_type, name)
        self.wait_for(lambda: client.service_is_ready(), timeout_s, f"service {name}")
        future = client.call_async(request)
        self.wait_for(future.done, timeout_s, f"an answer from {name}")
        return future.result()

    def close(self) -> None:
        self.node.destroy_node()
        self.rclpy.try_shutdown()


def diagnostic_values(array_msgs: list[Any], node_name: str) -> list[dict[str, str]]:
    """The key/values of every status the node published, oldest first."""
    out = []
    for array in array_msgs:
        for status in array.status:
            if status.name.endswith(node_name):
                values = {kv.key: kv.value for kv in status.values}
                values["_level"] = int.from_bytes(status.level, "little") if isinstance(
                    status.level, bytes) else int(status.level)
                values["_message"] = status.message
                out.append(values)
    return out


@contextmanager
def cell_nodes(cell: dict, names: set[str], run_dir: Path) -> Iterator[tuple[Any, Probe]]:
    """Some of the cell's nodes as real processes (parameters from the cell, no simulator),
    started, configured and activated, with a probe beside them; stopped afterwards."""
    from sorter.launching.launcher import CellLauncher
    from sorter.launching.specs import cell_node_specs

    specs = [s for s in cell_node_specs(cell, simulate=False) if s.name in names]
    launcher = CellLauncher(specs, run_dir, log=lambda _m: None)
    probe = Probe()
    try:
        launcher.start()
        yield launcher, probe
    finally:
        probe.close()
        launcher.stop()
