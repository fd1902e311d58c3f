"""ejector (lifecycle): schedules air-jet pulses in absolute time from each particle's
acquisition stamps and encoder positions and the measured belt speed. A decision that would
open after its deadline is a missed ejection: counted, never fired. Valves fail closed: the
driver is armed only while the node is active.

Subscribes: particles/measured (sorter_interfaces/ParticleArray), belt/state (BeltState).
Publishes:  ejector/commands (EjectCommand, one per pulse), ejector/status (EjectorStatus, 5 Hz);
            /diagnostics."""

from __future__ import annotations

import math
from typing import Any

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from sorter.common import qos
from sorter.common.diagnostics import NodeDiagnostics
from sorter.common.node_utils import guarded, run_node
from sorter.common.params import ParamSpec, declare_parameters
from sorter.common.timeutil import from_time_msg
from sorter.ejector.adapters import scheduler_from_params
from sorter.ejector.core import BeltSample, EjectionScheduler, EjectionTarget
from sorter.ejector.sim_driver import DRIVERS
from sorter_interfaces.msg import BeltState, EjectCommand, EjectorStatus, ParticleArray

PARAMETERS = [
    ParamSpec("driver", str, "valve driver", choices=tuple(DRIVERS), read_only=True),
    ParamSpec("scan_to_nozzle_m", float, "travel from scan line to nozzle line [m]",
              min=0.01, max=10.0, read_only=True),
    ParamSpec("valve_count", int, "valves on the bar", min=1, max=1024, read_only=True),
    ParamSpec("valve_pitch_m", float, "valve spacing [m]", min=1e-3, max=0.2, read_only=True),
    ParamSpec("response_time_s", float, "command -> air at the nozzle [s]", min=0.0, max=0.1),
    ParamSpec("min_open_s", float, "shortest pulse [s]", min=0.0005, max=0.5),
    ParamSpec("margin_m", float, "air before/after the particle along travel [m]",
              min=0.0, max=0.1),
    ParamSpec("command_margin_s", float, "a command must reach the valves this early [s]",
              min=0.0, max=1.0),
    ParamSpec("eject", str, "which class is blown out", choices=("ore", "waste")),
    ParamSpec("probability_threshold", float, "P(ore) at which a particle counts as ore",
              min=0.0, max=1.0),
]


class EjectorNode(LifecycleNode):
    def __init__(self) -> None:
        super().__init__("ejector")
        self.params = declare_parameters(self, PARAMETERS)
        self.diag = NodeDiagnostics(self, "valve_bar")
        self.scheduler = self._build()
        self.add_post_set_parameters_callback(lambda _p: self._rebuild())
        self.driver = DRIVERS[self.params["driver"]](self)
        self.belt: BeltSample | None = None
        self.counts = {"decisions": 0, "eject": 0, "accept": 0, "missed": 0}
        self.last_latency = 0.0
        self.command_pub = self.create_publisher(EjectCommand, "ejector/commands", qos.COMMANDS)
        self.status_pub = self.create_publisher(EjectorStatus, "ejector/status", qos.STATE)
        self.create_subscription(BeltState, "belt/state", self.on_belt, qos.STATE)
        self.create_subscription(ParticleArray, "particles/measured", self.on_particles,
                                 qos.PARTICLES)
        self.create_timer(0.2, self.publish_status)

    def _build(self) -> EjectionScheduler:
        return scheduler_from_params(self.params)

    def _rebuild(self) -> None:
        try:
            self.scheduler = self._build()
        except ValueError as err:
            self.diag.set_error(f"ejector parameters refused, previous kept: {err}")

    # lifecycle: armed only while active (fail closed otherwise)
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.driver.arm()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.driver.disarm()
        return super().on_deactivate(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.fail_safe()
        return TransitionCallbackReturn.SUCCESS

    def fail_safe(self) -> None:
        """Disarm the valve bar (also called by run_node on process exit)."""
        self.driver.disarm()

    @guarded("belt_state")
    def on_belt(self, msg: BeltState) -> None:
        stamp = from_time_msg(msg.header.stamp)
        values = (stamp, msg.encoder_position_m, msg.speed_m_s)
        if not all(map(math.isfinite, values)):
            raise ValueError(f"belt state has non-finite values {values}")
        if self.belt is not None and stamp < self.belt.stamp_s:
            raise ValueError("belt state stamp went backwards")
        self.belt = BeltSample(stamp_s=stamp, encoder_m=msg.encoder_position_m,
                               speed_m_s=msg.speed_m_s)

    @guarded("particles")
    def on_particles(self, msg: ParticleArray) -> None:
        for particle in msg.particles:
            try:
                self.decide(particle)
            except ValueError as err:  # one bad particle must not cost the rest of the strip
                self.diag.reject("particle", f"particle {particle.id}: {err}")

    def decide(self, particle: Any) -> None:
        if not (particle.classified and particle.measured):
            self.diag.reject("particle", f"particle {particle.id} reached the ejector unfinished")
            return
        target = EjectionTarget(
            particle_id=int(particle.id),
            leading_edge_encoder_m=particle.leading_edge_encoder_m,
            trailing_edge_encoder_m=particle.trailing_edge_encoder_m,
            y_min_m=particle.y_min_m,
            y_max_m=particle.y_max_m,
            ore_probability=particle.ore_probability,
            scan_complete_stamp_s=from_time_msg(particle.scan_complete_stamp),
        )
        now = self.get_clock().now().nanoseconds * 1e-9
        decision = self.scheduler.decide(target, self.belt, now)
        self.counts["decisions"] += 1
        self.last_latency = decision.latency_s
        if decision.kind == "eject" and not self.driver.armed:
            decision.kind, decision.reason = "missed", "valve bar disarmed (node not active)"
        self.counts[decision.kind] += 1
        if decision.kind == "missed":
            self.get_logger().warning(
                f"missed ejection of particle {particle.id}: {decision.reason}",
                throttle_duration_sec=1.0,
            )
        elif decision.kind == "eject":
            sent = self.driver.submit(decision.command, decision.latency_s)
            self.command_pub.publish(sent)

    def publish_status(self) -> None:
        status = EjectorStatus()
        status.header.stamp = self.get_clock().now().to_msg()
        status.armed = self.driver.armed
        status.decisions = self.counts["decisions"]
        status.ejections_scheduled = self.counts["eject"]
        status.accepts = self.counts["accept"]
        status.missed_ejections = self.counts["missed"]
        status.rejected_inputs = self.diag.rejected_total
        status.valve_commands_executed = self.driver.executed_count
        status.belt_speed_m_s = self.belt.speed_m_s if self.belt else 0.0
        status.last_latency_s = self.last_latency
        self.status_pub.publish(status)
        for key, value in self.counts.items():
            self.diag.set_value(key, value)


def main() -> int:
    return run_node(EjectorNode, threads=1)
