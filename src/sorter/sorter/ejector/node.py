"""ejector (lifecycle): schedules air-jet pulses in absolute time from each particle's
acquisition stamps and encoder positions and the measured belt speed. A decision that would
open after its deadline is a missed ejection: counted, never fired. Valves fail closed: the
driver is armed only while the node is active.

Topics, services and parameters: docs/nodes.md (from sorter.nodes and this node's
parameters class)."""

from __future__ import annotations

from typing import Any

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from sorter import topics
from sorter.common import qos
from sorter.common.diagnostics import NodeDiagnostics
from sorter.common.node_utils import guarded, run_node
from sorter.common.ros_parameters import bind_parameters
from sorter.ejector.adapters import (
    belt_sample_from_msg,
    scheduler_from_params,
    target_from_particle,
)
from sorter.ejector.core import BeltSample, EjectionScheduler
from sorter.ejector.parameters import EjectorParameters
from sorter.ejector.sim_driver import DRIVERS
from sorter_interfaces.msg import BeltState, EjectCommand, EjectorStatus, ParticleArray


class EjectorNode(LifecycleNode):
    def __init__(self) -> None:
        super().__init__(EjectorParameters.NODE)
        self.diag = NodeDiagnostics(self, "valve_bar")
        self.scheduler: EjectionScheduler
        self.params = bind_parameters(self, EjectorParameters, self._apply,
                                      lambda why: self.diag.reject("parameter", why))
        self.driver = DRIVERS[self.params.driver](self)
        self.belt: BeltSample | None = None
        self.counts = {"decisions": 0, "eject": 0, "accept": 0, "missed": 0}
        self.last_latency = 0.0
        self.arrays_received = 0
        self.command_pub = self.create_publisher(EjectCommand, topics.EJECTOR_COMMANDS.name,
                                                 qos.COMMANDS)
        self.status_pub = self.create_publisher(EjectorStatus, topics.EJECTOR_STATUS.name,
                                                qos.STATE)
        self.create_subscription(BeltState, topics.BELT_STATE.name, self.on_belt, qos.STATE)
        self.create_subscription(ParticleArray, topics.PARTICLES_MEASURED.name,
                                 self.on_particles, qos.PARTICLES)
        self.create_timer(0.2, self.publish_status)

    def _apply(self, params: EjectorParameters) -> None:
        """Build the scheduler the parameters describe; the core's refusal (e.g. a pulse
        shorter than the valve can open) refuses the change and keeps the one in use."""
        self.scheduler = scheduler_from_params(params)

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
        self.belt = belt_sample_from_msg(msg, self.belt)

    @guarded("particles")
    def on_particles(self, msg: ParticleArray) -> None:
        self.arrays_received += 1
        for particle in msg.particles:
            try:
                self.decide(particle)
            except ValueError as err:  # one bad particle must not cost the rest of the strip
                self.diag.reject("particle", f"particle {particle.id}: {err}")

    def decide(self, particle: Any) -> None:
        target = target_from_particle(particle)  # ValueError (unfinished): rejected by the caller
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
        elif decision.kind == "eject" and decision.command is not None:
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
        status.valve_commands_sent = self.driver.sent_count
        status.arrays_received = self.arrays_received
        status.belt_speed_m_s = self.belt.speed_m_s if self.belt else 0.0
        status.last_latency_s = self.last_latency
        self.status_pub.publish(status)
        for key, value in self.counts.items():
            self.diag.set_value(key, value)


def main() -> int:
    return run_node(EjectorNode, threads=1)
