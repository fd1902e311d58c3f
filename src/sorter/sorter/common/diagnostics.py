"""Per-node health on /diagnostics (diagnostic_updater is not in the wheels). Every rejected
input is logged with its reason, counted by kind, and reported; the node keeps running."""

from __future__ import annotations

from collections import Counter
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


class NodeDiagnostics:
    """Counts rejected inputs and publishes one DiagnosticStatus for the node at `rate_hz`.

    The level is ERROR while `set_error` or an ERROR condition holds, WARN while a WARN
    condition holds or inputs were rejected during the last period, OK otherwise. Conditions
    (`set_condition`) are named, so several sources (a feeder saturated, a drive throttled)
    raise and clear their own without clearing each other or `set_error`. Values added with
    `set_value` are shown as key/values (counters, rates), so an operator sees why, not only
    that."""

    def __init__(self, node: Any, hardware_id: str = "sorter", rate_hz: float = 1.0) -> None:
        self._node = node
        self._hardware_id = hardware_id
        self._pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.rejected: Counter[str] = Counter()
        self._rejected_at_last_publish = 0
        self._last_reason = ""
        self._error: str | None = None
        self._values: dict[str, str] = {}
        self._conditions: dict[str, tuple[bytes, str]] = {}
        self._timer = node.create_timer(1.0 / rate_hz, self.publish)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def reject(self, kind: str, reason: str) -> None:
        """Record one dropped input: log it (throttled) and count it under `kind`."""
        self.rejected[kind] += 1
        self._last_reason = f"{kind}: {reason}"
        self._node.get_logger().warning(
            f"rejected input ({kind}): {reason} [total {self.rejected_total}]",
            throttle_duration_sec=1.0,
        )

    def set_value(self, key: str, value: Any) -> None:
        self._values[key] = f"{value:.6g}" if isinstance(value, float) else str(value)

    def set_error(self, message: str | None) -> None:
        if message and message != self._error:
            self._node.get_logger().error(message)
        self._error = message

    def set_condition(self, key: str, level: bytes, message: str = "") -> None:
        """Hold the named condition `key` at `level` (WARN or ERROR) with `message`, or clear
        it with OK. Logged when it is raised or its level changes, and when it clears."""
        if level not in (OK, WARN, ERROR):
            raise ValueError(f"condition level must be OK, WARN or ERROR, got {level!r}")
        previous = self._conditions.get(key)
        if level == OK:
            if previous is not None:
                del self._conditions[key]
                self._node.get_logger().info(f"cleared: {previous[1]}")
            return
        if previous is None or previous[0] != level:
            # one call site per severity: rclpy refuses a call site whose severity changes
            if level == ERROR:
                self._node.get_logger().error(message)
            else:
                self._node.get_logger().warning(message)
        self._conditions[key] = (level, message)

    def status(self) -> DiagnosticStatus:
        total = self.rejected_total
        errors = [self._error] if self._error else []
        errors += [m for lv, m in self._conditions.values() if lv == ERROR]
        warnings = [m for lv, m in self._conditions.values() if lv == WARN]
        if total > self._rejected_at_last_publish:
            warnings.append(f"rejected {total - self._rejected_at_last_publish} inputs; "
                            f"last: {self._last_reason}")
        if errors:
            level, message = ERROR, "; ".join(errors)
        elif warnings:
            level, message = WARN, "; ".join(warnings)
        else:
            level, message = OK, "ok"
        values = [KeyValue(key="rejected_total", value=str(total))]
        values += [KeyValue(key=f"rejected.{k}", value=str(v)) for k, v in self.rejected.items()]
        values += [KeyValue(key=k, value=v) for k, v in self._values.items()]
        return DiagnosticStatus(
            level=level,
            name=self._node.get_fully_qualified_name(),
            message=message,
            hardware_id=self._hardware_id,
            values=values,
        )

    def publish(self) -> None:
        array = DiagnosticArray()
        array.header.stamp = self._node.get_clock().now().to_msg()
        array.status = [self.status()]
        self._pub.publish(array)
        self._rejected_at_last_publish = self.rejected_total
