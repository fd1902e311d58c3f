"""Per-node health on /diagnostics (diagnostic_updater is not in the wheels). Every rejected
input is logged with its reason, counted by kind, and reported; the node keeps running."""

from __future__ import annotations

from collections import Counter
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


class NodeDiagnostics:
    """Counts rejected inputs and publishes one DiagnosticStatus for the node at `rate_hz`.

    The level is WARN while inputs were rejected during the last period, ERROR while
    `set_error` holds a fault, OK otherwise. Values added with `set_value` are shown as
    key/values (counters, rates), so an operator sees why, not only that."""

    def __init__(self, node: Any, hardware_id: str = "sorter", rate_hz: float = 1.0) -> None:
        self._node = node
        self._hardware_id = hardware_id
        self._pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.rejected: Counter[str] = Counter()
        self._rejected_at_last_publish = 0
        self._last_reason = ""
        self._error: str | None = None
        self._values: dict[str, str] = {}
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

    def status(self) -> DiagnosticStatus:
        total = self.rejected_total
        if self._error:
            level, message = ERROR, self._error
        elif total > self._rejected_at_last_publish:
            level, message = WARN, f"rejected {total - self._rejected_at_last_publish} inputs; "
            message += f"last: {self._last_reason}"
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
