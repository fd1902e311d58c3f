"""belt (lifecycle): drives the belt at its set-point and publishes the measured state
(encoder position and speed estimated from it) that every time-critical stage schedules from.

Drivers:    sim (sim_world over topics) | modbus (drive over Modbus TCP, cell `io` map).
Deactivate stops the belt.

Topics, services and parameters: docs/nodes.md (from sorter.nodes and this node's
parameters class)."""

from __future__ import annotations

from typing import Any

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from std_msgs.msg import Float64

from sorter import topics
from sorter.belt.adapters import belt_state_msg
from sorter.belt.core import EncoderSpeedEstimator
from sorter.belt.drivers import DRIVERS
from sorter.belt.parameters import BeltParameters
from sorter.common import qos
from sorter.common.diagnostics import NodeDiagnostics
from sorter.common.node_utils import answer_setpoint, guarded, run_node
from sorter.common.ros_parameters import bind_parameters, set_parameter
from sorter_interfaces.msg import BeltState
from sorter_interfaces.srv import SetBeltSpeed


class BeltNode(LifecycleNode):
    def __init__(self) -> None:
        super().__init__(BeltParameters.NODE)
        self.diag = NodeDiagnostics(self, "belt_drive")
        self.active = False
        self.driver: Any = None
        self.estimator: EncoderSpeedEstimator
        self.params = bind_parameters(self, BeltParameters, self._apply,
                                      lambda why: self.diag.reject("parameter", why))
        self.driver = DRIVERS[self.params.driver](self, self.on_encoder)
        self.state_pub = None
        self.state_period_s = 1.0 / self.params.state_rate_hz
        self.next_state_s = 0.0
        self.create_subscription(Float64, topics.BELT_SPEED_SETPOINT.name, self.on_setpoint,
                                 qos.STATE)
        self.create_service(SetBeltSpeed, topics.BELT_SET_SPEED.name, self.on_set_speed)

    def _apply(self, params: BeltParameters) -> None:
        """Check the set-point against the drive limit (refused, not clamped, so a mistake
        stays visible), then command it if the belt is running."""
        params.check()
        estimator = getattr(self, "estimator", None)  # None until the first apply
        if estimator is None or estimator.window_s != params.speed_window_s:
            self.estimator = EncoderSpeedEstimator(params.speed_window_s)
        if self.active and self.driver is not None:
            self.driver.command_speed(params.speed_setpoint_m_s)

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.driver.start()
        except ConnectionError as err:
            self.diag.set_error(f"belt drive unreachable: {err}")
            return TransitionCallbackReturn.FAILURE
        self.diag.set_error(None)
        self.state_pub = self.create_lifecycle_publisher(BeltState, topics.BELT_STATE.name,
                                                        qos.STATE)
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = True
        self.driver.command_speed(self.params.speed_setpoint_m_s)
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = False
        self.driver.command_speed(0.0)
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.driver.stop()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.fail_safe()
        return TransitionCallbackReturn.SUCCESS

    def fail_safe(self) -> None:
        """Stop the belt (also called by run_node on process exit)."""
        self.active = False
        self.driver.stop()

    @guarded("setpoint")
    def on_setpoint(self, msg: Float64) -> None:
        set_parameter(self, "speed_setpoint_m_s", msg.data)

    def on_set_speed(self, request: SetBeltSpeed.Request, response: SetBeltSpeed.Response
                     ) -> SetBeltSpeed.Response:
        return answer_setpoint(self, "speed_setpoint_m_s", request.speed_m_s, response, "m/s")

    @guarded("encoder")
    def on_encoder(self, stamp_s: float, encoder_m: float) -> None:
        speed = self.estimator.update(stamp_s, encoder_m)
        # Every encoder sample feeds the estimate; belt/state goes out at state_rate_hz only,
        # since each subscriber pays for every message and the ejector extrapolates anyway.
        if self.state_pub is None or stamp_s < self.next_state_s:
            return
        self.next_state_s = max(
            self.next_state_s + self.state_period_s, stamp_s - 0.5 * self.state_period_s
        )
        msg = belt_state_msg(stamp_s, encoder_m, speed,
                             self.params.speed_setpoint_m_s if self.active else 0.0)
        self.state_pub.publish(msg)
        self.diag.set_value("speed_m_s", msg.speed_m_s)


def main() -> int:
    return run_node(BeltNode, threads=1)
