"""The feeder's faults are visible: a blocked chute (the drive at 1, nothing arriving on the belt)
raises `saturated` on feeder/status and an ERROR on /diagnostics; occupancy above the limit
raises `throttled` and a WARN, and clears the saturation. The feeder runs as a real process
with the sim driver; the test plays the scan, publishing belt/occupancy."""

from __future__ import annotations

import time

import pytest

from sorter.common.timeutil import to_time_msg
from tests.integration.rosutil import cell_nodes, diagnostic_values

pytestmark = pytest.mark.integration

ERROR, WARN = 2, 1


@pytest.fixture
def feeder(ros_domain, tmp_path, cell):
    with cell_nodes(cell, {"feeder"}, tmp_path) as running:
        yield running


def test_blocked_chute_and_crowded_belt_are_reported(feeder) -> None:
    from diagnostic_msgs.msg import DiagnosticArray

    from sorter.common import qos
    from sorter_interfaces.msg import BeltOccupancy, FeederStatus

    launcher, probe = feeder
    status = probe.collect(FeederStatus, "feeder/status", qos.STATE)
    diags = probe.collect(DiagnosticArray, "/diagnostics")
    pub = probe.node.create_publisher(BeltOccupancy, "belt/occupancy", qos.STATE)
    probe.wait_for_subscriber(pub)

    def scan(occupancy: float, condition, timeout_s: float, what: str) -> None:
        """Publish what the scan would see (20 strips/s, nothing arriving) until `condition`."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
            msg = BeltOccupancy(occupancy=occupancy, mass_flow_kg_s=0.0, strip_duration_s=0.05)
            msg.header.stamp = to_time_msg(time.time())
            pub.publish(msg)
            probe.wait_until(lambda: False, 0.05)

    def feeder_diag() -> dict[str, str]:
        values = diagnostic_values(diags, "feeder")
        return values[-1] if values else {}

    # Blocked chute: the integrator winds the drive up to 1 in ~4 s, the fault follows after
    # saturation_fault_s (5 s).
    scan(0.0, lambda: status and status[-1].saturated, 30.0, "saturated on feeder/status")
    last = status[-1]
    assert last.active and last.drive == 1.0 and not last.throttled
    assert last.saturated_for_s >= last.saturation_fault_s == 5.0
    scan(0.0, lambda: feeder_diag().get("_level") == ERROR, 5.0, "an ERROR on /diagnostics")
    assert "saturated" in feeder_diag()["_message"]
    assert float(feeder_diag()["saturated_for_s"]) >= 5.0

    # A crowded belt: the occupancy ceiling throttles the drive below 1, which also ends the
    # saturation: WARN, no ERROR.
    scan(0.5, lambda: status and status[-1].throttled, 10.0, "throttled on feeder/status")
    assert status[-1].drive < 1.0 and not status[-1].saturated
    assert status[-1].saturated_for_s == 0.0
    scan(0.5, lambda: feeder_diag().get("_level") == WARN, 5.0, "a WARN on /diagnostics")
    assert "throttled" in feeder_diag()["_message"]
    assert feeder_diag()["rejected_total"] == "0"  # the control step itself never failed
    assert launcher.dead() == []
