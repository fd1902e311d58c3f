"""Drives lifecycle nodes through the standard `<node>/change_state` and `<node>/get_state`
services, as launch_ros or nav2's lifecycle manager would."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState

TRANSITIONS = {
    "configure": (Transition.TRANSITION_CONFIGURE, State.PRIMARY_STATE_INACTIVE),
    "activate": (Transition.TRANSITION_ACTIVATE, State.PRIMARY_STATE_ACTIVE),
    "deactivate": (Transition.TRANSITION_DEACTIVATE, State.PRIMARY_STATE_INACTIVE),
    "cleanup": (Transition.TRANSITION_CLEANUP, State.PRIMARY_STATE_UNCONFIGURED),
}


class LifecycleClient:
    def __init__(self, node_name: str = "sorter_launcher") -> None:
        import rclpy

        self._rclpy = rclpy
        self._owns_context = not rclpy.ok()
        if self._owns_context:
            rclpy.init()
        self.node = rclpy.create_node(node_name)

    def _call(self, srv_type: Any, service: str, request: Any, deadline: float,
              check: Callable[[], None]) -> Any:
        client = self.node.create_client(srv_type, service)
        try:
            while not client.wait_for_service(timeout_sec=0.1):
                check()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"service {service} did not appear")
            future = client.call_async(request)
            while not future.done():
                self._rclpy.spin_once(self.node, timeout_sec=0.05)
                check()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"service {service} did not answer")
            return future.result()
        finally:
            self.node.destroy_client(client)

    def wait_for_nodes(self, names: list[str], deadline: float,
                       check: Callable[[], None] = lambda: None) -> list[str]:
        """Spin until every name is in the graph; return those still missing at the deadline."""
        missing = list(names)
        while missing and time.monotonic() < deadline:
            self._rclpy.spin_once(self.node, timeout_sec=0.1)
            check()
            present = {name for name, _ns in self.node.get_node_names_and_namespaces()}
            missing = [name for name in names if name not in present]
        return missing

    def wait_for_edges(self, edges: list[tuple[str, str, str]], deadline: float,
                       check: Callable[[], None] = lambda: None) -> list[tuple[str, str, str]]:
        """Spin until every (topic, publisher node, subscriber node) shows both endpoints in
        the graph; return those still missing at the deadline."""

        def connected(edge: tuple[str, str, str]) -> bool:
            topic, pub, sub = edge
            pubs = {i.node_name for i in self.node.get_publishers_info_by_topic(f"/{topic}")}
            subs = {i.node_name for i in self.node.get_subscriptions_info_by_topic(f"/{topic}")}
            return pub in pubs and sub in subs

        missing = list(edges)
        while missing and time.monotonic() < deadline:
            self._rclpy.spin_once(self.node, timeout_sec=0.1)
            check()
            missing = [edge for edge in missing if not connected(edge)]
        return missing

    def wait_for_message(self, msg_type: Any, topic: str, qos: Any,
                         predicate: Callable[[Any], bool], deadline: float,
                         check: Callable[[], None] = lambda: None) -> bool:
        """Spin until a message on `topic` satisfies `predicate`; False at the deadline."""
        seen: list[bool] = []
        subscription = self.node.create_subscription(
            msg_type, topic, lambda msg: seen.append(bool(predicate(msg))), qos)
        try:
            while not any(seen) and time.monotonic() < deadline:
                self._rclpy.spin_once(self.node, timeout_sec=0.05)
                check()
            return any(seen)
        finally:
            self.node.destroy_subscription(subscription)

    def get_state(self, name: str, deadline: float, check: Callable[[], None]) -> int:
        result = self._call(GetState, f"/{name}/get_state", GetState.Request(), deadline, check)
        return result.current_state.id

    def change_state(
        self, name: str, transition: str, deadline: float, check: Callable[[], None] = lambda: None
    ) -> tuple[bool, str]:
        transition_id, goal = TRANSITIONS[transition]
        request = ChangeState.Request()
        request.transition.id = transition_id
        try:
            result = self._call(ChangeState, f"/{name}/change_state", request, deadline, check)
            if not result.success:
                return False, "the node refused the transition"
            state = self.get_state(name, deadline, check)
        except TimeoutError as err:
            return False, str(err)
        if state != goal:
            return False, f"ended in state {state}, expected {goal}"
        return True, "ok"

    def close(self) -> None:
        self.node.destroy_node()
        if self._owns_context:
            self._rclpy.try_shutdown()

    def __enter__(self) -> LifecycleClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
