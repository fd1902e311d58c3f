"""belt (lifecycle): drives the belt at its set-point and publishes the measured state
(encoder position and speed estimated from it) that every time-critical stage schedules from.

Subscribes: belt/speed_setpoint (std_msgs/Float64 [m/s]); (driver=sim) sim/belt/encoder.
Drivers:    sim (sim_world over topics) | modbus (drive over Modbus TCP, cell `io` map).
Publishes:  belt/state (sorter_interfaces/BeltState, at state_rate_hz); /diagnostics.
Services:   belt/set_speed (sorter_interfaces/SetBeltSpeed).
Deactivate stops the belt."""

from __future__ import annotations

from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from std_msgs.msg import Float64

from sorter.belt.core import EncoderSpeedEstimator, SpeedCommandLimiter
from sorter.belt.drivers import DRIVERS
from sorter.common import qos
from sorter.common.diagnostics import NodeDiagnostics
from sorter.common.modbus import modbus_parameter_specs
from sorter.common.node_utils import (
    answer_setpoint,
    guarded,
    run_node,
    set_double_parameter,
)
from sorter.common.params import ParamSpec, declare_parameters
from sorter.common.timeutil import to_time_msg
from sorter_interfaces.msg import BeltState
from sorter_interfaces.srv import SetBeltSpeed

PARAMETERS = [
    ParamSpec("driver", str, "belt drive driver", choices=tuple(DRIVERS), read_only=True),
    ParamSpec("speed_setpoint_m_s", float, "belt speed set-point [m/s]", min=0.0, max=10.0),
    ParamSpec("max_speed_m_s", float, "drive limit [m/s]", min=0.1, max=10.0, read_only=True),
    ParamSpec(
        "state_rate_hz",
        float,
        "belt/state publication rate [Hz]",
        min=1.0,
        max=2000.0,
        read_only=True,
    ),
    ParamSpec(
        "speed_window_s",
        float,
        "encoder window for the speed estimate [s]",
        default=0.05,
        min=0.005,
        max=1.0,
    ),
    *modbus_parameter_specs(),
]


class BeltNode(LifecycleNode):
    def __init__(self) -> None:
        super().__init__("belt")
        self.params = declare_parameters(self, PARAMETERS)
        self.diag = NodeDiagnostics(self, "belt_drive")
        self.limiter = SpeedCommandLimiter(self.params["max_speed_m_s"])
        self.limiter.validate(self.params["speed_setpoint_m_s"])
        self.estimator = EncoderSpeedEstimator(self.params["speed_window_s"])
        self.driver = DRIVERS[self.params["driver"]](self, self.on_encoder)
        self.active = False
        self.state_pub = None
        self.state_period_s = 1.0 / self.params["state_rate_hz"]
        self.next_state_s = 0.0
        self.add_on_set_parameters_callback(self._check_speed_limit)
        self.add_post_set_parameters_callback(self._speed_changed)
        self.create_subscription(Float64, "belt/speed_setpoint", self.on_setpoint, qos.STATE)
        self.create_service(SetBeltSpeed, "belt/set_speed", self.on_set_speed)

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.driver.start()
        except ConnectionError as err:
            self.diag.set_error(f"belt drive unreachable: {err}")
            return TransitionCallbackReturn.FAILURE
        self.diag.set_error(None)
        self.state_pub = self.create_lifecycle_publisher(BeltState, "belt/state", qos.STATE)
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = True
        self.driver.command_speed(self.params["speed_setpoint_m_s"])
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

    def _check_speed_limit(self, params: list[Parameter]) -> SetParametersResult:
        for param in params:
            if param.name == "speed_setpoint_m_s":
                try:
                    self.limiter.validate(param.value)
                except ValueError as err:
                    return SetParametersResult(successful=False, reason=str(err))
        return SetParametersResult(successful=True)

    def _speed_changed(self, params: list[Parameter]) -> None:
        for param in params:
            if param.name == "speed_setpoint_m_s" and self.active:
                self.driver.command_speed(param.value)

    @guarded("setpoint")
    def on_setpoint(self, msg: Float64) -> None:
        set_double_parameter(self, "speed_setpoint_m_s", msg.data)

    def on_set_speed(self, request: SetBeltSpeed.Request, response: SetBeltSpeed.Response):
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
        msg = BeltState()
        msg.header.stamp = to_time_msg(stamp_s)
        msg.header.frame_id = "belt"
        msg.encoder_position_m = float(encoder_m)
        msg.speed_m_s = float(speed) if speed is not None else 0.0
        msg.speed_setpoint_m_s = float(self.params["speed_setpoint_m_s"]) if self.active else 0.0
        msg.running = bool(msg.speed_m_s > 1e-3)
        self.state_pub.publish(msg)
        self.diag.set_value("speed_m_s", msg.speed_m_s)


def main() -> int:
    return run_node(BeltNode, threads=1)
