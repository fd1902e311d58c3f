"""cell_monitor: the cell's figures in one place — throughput (kg/h, particles/s), decisions,
ejections, missed ejections, scan->command latency p50/p99 and inputs dropped by any node.

Topics, services and parameters: docs/nodes.md (from sorter.nodes and this node's
parameters class)."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node

from sorter import topics
from sorter.cell_monitor.core import CellMetricsCore
from sorter.cell_monitor.parameters import CellMonitorParameters
from sorter.common import qos
from sorter.common.diagnostics import NodeDiagnostics
from sorter.common.node_utils import guarded, run_node
from sorter.common.ros_parameters import bind_parameters
from sorter.common.timeutil import from_time_msg
from sorter_interfaces.msg import (
    CellMetrics,
    EjectCommand,
    EjectorStatus,
    FeederStatus,
    ParticleArray,
)


class CellMonitorNode(Node):
    def __init__(self) -> None:
        super().__init__(CellMonitorParameters.NODE)
        self.diag = NodeDiagnostics(self, "cell")
        self.core = CellMetricsCore(60.0, start_s=self.get_clock().now().nanoseconds * 1e-9)
        self.params = bind_parameters(self, CellMonitorParameters, self._apply,
                                      lambda why: self.diag.reject("parameter", why))
        self.ejector = EjectorStatus()
        self.belt_speed = 0.0
        self.feed_setpoint = 0.0
        self.pub = self.create_publisher(CellMetrics, topics.CELL_METRICS.name, qos.STATE)
        self.create_subscription(ParticleArray, topics.PARTICLES_SEGMENTED.name,
                                 self.on_segmented, qos.PARTICLES)
        self.create_subscription(ParticleArray, topics.PARTICLES_MEASURED.name,
                                 self.on_measured, qos.PARTICLES)
        self.create_subscription(EjectCommand, topics.EJECTOR_COMMANDS.name, self.on_command,
                                 qos.COMMANDS)
        self.create_subscription(EjectorStatus, topics.EJECTOR_STATUS.name, self.on_ejector,
                                 qos.STATE)
        self.create_subscription(FeederStatus, topics.FEEDER_STATUS.name, self.on_feeder,
                                 qos.STATE)
        self.create_subscription(DiagnosticArray, topics.DIAGNOSTICS.name, self.on_diagnostics,
                                 50)
        self.create_timer(1.0 / self.params.publish_rate_hz, self.publish)

    def _apply(self, params: CellMonitorParameters) -> None:
        """The rolling window applies from the next snapshot."""
        self.core.set_window(params.window_s)

    @guarded("particles")
    def on_segmented(self, msg: ParticleArray) -> None:
        self.core.on_scanned(from_time_msg(msg.header.stamp), len(msg.particles))

    @guarded("particles")
    def on_measured(self, msg: ParticleArray) -> None:
        for particle in msg.particles:
            self.core.on_measured(from_time_msg(particle.header.stamp), particle.mass_kg)

    @guarded("command")
    def on_command(self, msg: EjectCommand) -> None:
        self.core.on_decision(from_time_msg(msg.header.stamp), "eject",
                              msg.scan_to_command_latency_s)

    def on_ejector(self, msg: EjectorStatus) -> None:
        """The ejector's status also carries the belt speed it schedules with, so the monitor
        need not take the high-rate belt/state stream."""
        self.ejector = msg
        self.belt_speed = msg.belt_speed_m_s

    def on_feeder(self, msg: FeederStatus) -> None:
        self.feed_setpoint = msg.setpoint_kg_h

    @guarded("diagnostics")
    def on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == self.get_fully_qualified_name():
                continue
            for kv in status.values:
                if kv.key == "rejected_total":
                    self.core.on_dropped(status.name, int(kv.value))

    def publish(self) -> None:
        now = self.get_clock().now().nanoseconds * 1e-9
        snap = self.core.snapshot(now)
        m = CellMetrics()
        m.header.stamp = self.get_clock().now().to_msg()
        m.window_s = float(self.params.window_s)
        m.throughput_kg_h = float(snap.throughput_kg_h)
        m.particles_per_s = float(snap.particles_per_s)
        m.particles_scanned = int(snap.scanned)
        m.particles_measured = int(snap.measured)
        m.decisions = int(self.ejector.decisions)
        m.ejections = int(self.ejector.ejections_scheduled)
        m.missed_ejections = int(self.ejector.missed_ejections)
        m.dropped_inputs = int(snap.dropped)
        m.latency_p50_s = float(snap.latency_p50_s)
        m.latency_p99_s = float(snap.latency_p99_s)
        m.belt_speed_m_s = float(self.belt_speed)
        m.feed_setpoint_kg_h = float(self.feed_setpoint)
        self.pub.publish(m)
        self.diag.set_value("throughput_kg_h", m.throughput_kg_h)
        self.diag.set_value("missed_ejections", m.missed_ejections)
        self.diag.set_value("latency_p99_s", m.latency_p99_s)


def main() -> int:
    return run_node(CellMonitorNode, threads=1)
