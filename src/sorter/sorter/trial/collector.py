"""A node in the trial process that records what the cell published (metrics, decisions,
particles) and the simulator's truth, for scoring and plots. It only listens, except for the
end-of-trial feeder stop, which goes through the feeder's public service."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sorter import topics
from sorter.common.timeutil import from_time_msg


@dataclass
class TrialRecord:
    metrics: list[dict[str, float]] = field(default_factory=list)
    scanned_ids: list[int] = field(default_factory=list)
    particles: list[dict[str, float]] = field(default_factory=list)
    commands: list[dict[str, float]] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    late_valve_commands: int = 0
    valve_commands_received: int = 0
    feeder: list[dict[str, float]] = field(default_factory=list)
    ejector_status: dict[str, float] = field(default_factory=dict)


class TrialCollector:
    def __init__(self) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        from sorter.common import qos
        from sorter_interfaces.msg import (
            CellMetrics,
            EjectCommand,
            EjectorStatus,
            FeederStatus,
            ParticleArray,
            ParticleOutcomeArray,
        )

        self._rclpy = rclpy
        self._owns = not rclpy.ok()
        if self._owns:
            rclpy.init()
        self.node = rclpy.create_node("trial_collector")
        self.record = TrialRecord()
        self.lock = threading.Lock()
        n = self.node
        n.create_subscription(CellMetrics, topics.CELL_METRICS.name, self._on_metrics, qos.STATE)
        n.create_subscription(ParticleArray, topics.PARTICLES_SEGMENTED.name, self._on_segmented,
                              qos.PARTICLES)
        n.create_subscription(ParticleArray, topics.PARTICLES_MEASURED.name, self._on_particles,
                              qos.PARTICLES)
        n.create_subscription(EjectCommand, topics.EJECTOR_COMMANDS.name,
                              self._on_command, qos.COMMANDS)
        n.create_subscription(EjectorStatus, topics.EJECTOR_STATUS.name,
                              self._on_ejector, qos.STATE)
        n.create_subscription(FeederStatus, topics.FEEDER_STATUS.name, self._on_feeder, qos.STATE)
        n.create_subscription(ParticleOutcomeArray, topics.SIM_TRUTH_OUTCOMES.name,
                              self._on_outcomes,
                              qos.PARTICLES)
        self._executor = SingleThreadedExecutor()
        self._executor.add_node(n)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._running = True
        self._thread.start()

    def _spin(self) -> None:
        while self._running and self._rclpy.ok():
            self._executor.spin_once(timeout_sec=0.05)

    def _on_metrics(self, m: Any) -> None:
        with self.lock:
            self.record.metrics.append(
                {
                    "t": from_time_msg(m.header.stamp),
                    "throughput_kg_h": m.throughput_kg_h,
                    "particles_per_s": m.particles_per_s,
                    "scanned": m.particles_scanned,
                    "measured": m.particles_measured,
                    "decisions": m.decisions,
                    "ejections": m.ejections,
                    "missed": m.missed_ejections,
                    "dropped": m.dropped_inputs,
                    "latency_p50_s": m.latency_p50_s,
                    "latency_p99_s": m.latency_p99_s,
                    "belt_speed_m_s": m.belt_speed_m_s,
                    "feed_setpoint_kg_h": m.feed_setpoint_kg_h,
                }
            )

    def _on_segmented(self, msg: Any) -> None:
        with self.lock:
            self.record.scanned_ids.extend(p.id for p in msg.particles)

    def _on_particles(self, msg: Any) -> None:
        with self.lock:
            for p in msg.particles:
                self.record.particles.append(
                    {
                        "id": p.id,
                        "t": from_time_msg(p.header.stamp),
                        "ratio_r": p.ratio_r,
                        "mean_attenuation_high": p.mean_attenuation_high,
                        "ore_probability": p.ore_probability,
                        "is_ore": p.is_ore,
                        "mass_kg": p.mass_kg,
                        "equivalent_diameter_m": p.equivalent_diameter_m,
                        "touching": p.touching,
                    }
                )

    def _on_command(self, msg: Any) -> None:
        with self.lock:
            self.record.commands.append(
                {
                    "particle_id": msg.particle_id,
                    "decided": from_time_msg(msg.header.stamp),
                    "open": from_time_msg(msg.open_time),
                    "latency_s": msg.scan_to_command_latency_s,
                }
            )

    def _on_ejector(self, msg: Any) -> None:
        with self.lock:
            self.record.ejector_status = {
                "decisions": msg.decisions,
                "ejections": msg.ejections_scheduled,
                "accepts": msg.accepts,
                "missed": msg.missed_ejections,
                "rejected_inputs": msg.rejected_inputs,
                "valve_commands_sent": msg.valve_commands_sent,
            }

    def _on_feeder(self, msg: Any) -> None:
        with self.lock:
            self.record.feeder.append(
                {
                    "t": from_time_msg(msg.header.stamp),
                    "setpoint_kg_h": msg.setpoint_kg_h,
                    "measured_kg_h": msg.measured_kg_h,
                    "occupancy": msg.occupancy,
                    "drive": msg.drive,
                }
            )

    def _on_outcomes(self, msg: Any) -> None:
        with self.lock:
            for o in msg.outcomes:
                self.record.outcomes.append(
                    {
                        "truth_id": o.truth_id,
                        "is_ore": o.is_ore,
                        "mass_kg": o.mass_kg,
                        "grade": o.grade,
                        "mineral_mass_kg": o.mineral_mass_kg,
                        "bin": int(o.bin),
                        "scan_time_s": from_time_msg(o.scan_time),
                    }
                )
            self.record.late_valve_commands = msg.late_valve_commands
            self.record.valve_commands_received = msg.valve_commands

    def stop_feed(self, timeout_s: float = 10.0) -> bool:
        """Ask the feeder for 0 kg/h through its service, so the belt empties."""
        from sorter_interfaces.srv import SetFeedRate

        client = self.node.create_client(SetFeedRate, topics.FEEDER_SET_FEED_RATE.name)
        try:
            if not client.wait_for_service(timeout_sec=timeout_s):
                return False
            future = client.call_async(SetFeedRate.Request(feed_rate_kg_h=0.0))
            deadline = time.monotonic() + timeout_s
            while not future.done() and time.monotonic() < deadline:
                time.sleep(0.02)
            return bool(future.done() and future.result().success)
        finally:
            self.node.destroy_client(client)

    def snapshot(self) -> TrialRecord:
        with self.lock:
            return TrialRecord(
                metrics=list(self.record.metrics),
                scanned_ids=list(self.record.scanned_ids),
                particles=list(self.record.particles),
                commands=list(self.record.commands),
                outcomes=list(self.record.outcomes),
                late_valve_commands=self.record.late_valve_commands,
                valve_commands_received=self.record.valve_commands_received,
                feeder=list(self.record.feeder),
                ejector_status=dict(self.record.ejector_status),
            )

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=2.0)
        self.node.destroy_node()
        if self._owns:
            self._rclpy.try_shutdown()
