"""The belt and feeder nodes with driver=modbus, against a real Modbus TCP server on loopback
(sorter.sim_world.modbus_plant: pymodbus server + the simulator's drive model)."""

from __future__ import annotations

import socket

import pytest

from sorter.launching.launcher import CellLauncher, LaunchError
from sorter.launching.specs import NodeSpec, cell_node_specs
from sorter.sim_world.modbus_plant import ModbusPlant
from tests.integration.rosutil import Probe

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _modbus_specs(cell: dict, port: int) -> list[NodeSpec]:
    specs = [s for s in cell_node_specs(cell, driver="modbus", simulate=False)
             if s.name in ("belt", "feeder")]
    return [NodeSpec(s.name, s.executable, s.lifecycle, {**s.parameters, "modbus_port": port})
            for s in specs]


def test_belt_and_feeder_drive_the_plant_over_modbus(ros_domain, tmp_path, cell) -> None:
    from sorter.common import qos
    from sorter_interfaces.msg import BeltState, FeederStatus

    port = _free_port()
    plant = ModbusPlant(cell, port=port)
    plant.start()
    launcher = CellLauncher(_modbus_specs(cell, port), tmp_path, log=lambda _m: None)
    probe = Probe()
    try:
        states = probe.collect(BeltState, "belt/state", qos.STATE)
        feeder = probe.collect(FeederStatus, "feeder/status", qos.STATE)
        launcher.start()
        target = cell["belt"]["speed_m_s"]
        # the drive ramps at belt.acceleration_m_s2; the node measures it from encoder counts
        probe.wait_for(lambda: states and abs(states[-1].speed_m_s - target) < 0.02, 15.0,
                       f"belt/state at {target} m/s measured over Modbus")
        assert plant.speed_m_s == pytest.approx(target)
        positions = [s.encoder_position_m for s in states]
        assert positions == sorted(positions)
        # no scan data yet: the feeder runs on its feed-forward, written to the register
        feed_forward = cell["feeder"]["feed_rate_kg_h"] / cell["feeder"]["max_feed_rate_kg_h"]
        probe.wait_for(lambda: feeder and feeder[-1].active, 10.0, "an active feeder")
        probe.wait_for(lambda: abs(plant.feeder_drive - feed_forward) < 0.002, 10.0,
                       "the feeder drive register at the feed-forward")
        # stopping the cell stops the belt and the tray through the same registers
        launcher.stop()
        assert plant.feeder_drive == 0.0
        assert plant.drive.command == 0.0
    finally:
        probe.close()
        launcher.stop()
        plant.stop()


def test_missing_modbus_peer_fails_configure_with_the_address(ros_domain, tmp_path, cell) -> None:
    port = _free_port()  # nothing listens there
    belt = next(s for s in _modbus_specs(cell, port) if s.name == "belt")
    launcher = CellLauncher([belt], tmp_path, log=lambda _m: None)
    with pytest.raises(LaunchError, match="belt: configure failed"):
        try:
            launcher.start(activate_timeout_s=20.0)
        finally:
            launcher.stop()
    assert f"127.0.0.1:{port}" in launcher.log_file("belt").read_text()
