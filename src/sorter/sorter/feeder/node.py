"""feeder (lifecycle): closed-loop vibratory feed. The loop runs on what the scan measures on
the belt (mass flow from XRT areal density, and area occupancy): mass flow tracks the set-point,
and occupancy above its limit throttles the drive, since overlapping particles cost grade.

Subscribes: belt/occupancy (sorter_interfaces/BeltOccupancy), feeder/setpoint (std_msgs/Float64
            [kg/h]).
Publishes:  feeder/status (sorter_interfaces/FeederStatus, each control step); /diagnostics.
Services:   feeder/set_feed_rate (sorter_interfaces/SetFeedRate).
Drivers:    sim (sim_world over topics) | modbus (feeder controller over Modbus TCP).
Deactivate stops the tray (drive 0)."""

from __future__ import annotations

import math

from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from std_msgs.msg import Float64

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
from sorter.common.timeutil import from_time_msg
from sorter.feeder.core import FeedController, FeederConfig
from sorter.feeder.drivers import DRIVERS
from sorter.feeder.flow_filter import MassFlowFilter
from sorter_interfaces.msg import BeltOccupancy, FeederStatus
from sorter_interfaces.srv import SetFeedRate

PARAMETERS = [
    ParamSpec("driver", str, "feeder driver", choices=tuple(DRIVERS), read_only=True),
    ParamSpec("feed_rate_kg_h", float, "mass flow set-point [kg/h]", min=0.0, max=1e6),
    ParamSpec("max_feed_rate_kg_h", float, "mass flow at full drive [kg/h]", min=1.0, max=1e6,
              read_only=True),
    ParamSpec("occupancy_limit", float, "belt area fraction above which the drive is throttled",
              min=0.01, max=1.0),
    ParamSpec("kp", float, "proportional gain [drive per relative error]", min=0.0, max=10.0),
    ParamSpec("ki", float, "integral gain [drive per relative error second]", min=0.0, max=10.0),
    ParamSpec("control_rate_hz", float, "control loop rate [Hz]", min=0.5, max=200.0,
              read_only=True),
    ParamSpec("flow_filter_time_constant_s", float, "low-pass on the measured mass flow [s]",
              default=1.0, min=0.01, max=60.0),
    *modbus_parameter_specs(),
]


class FeederNode(LifecycleNode):
    def __init__(self) -> None:
        super().__init__("feeder")
        self.params = declare_parameters(self, PARAMETERS)
        self.diag = NodeDiagnostics(self, "vibratory_feeder")
        self.controller = FeedController(self._config())
        self.flow = MassFlowFilter(self.params["flow_filter_time_constant_s"])
        self.driver = DRIVERS[self.params["driver"]](self)
        self.occupancy = 0.0
        self.drive = 0.0
        self.active = False
        self.last_step_s: float | None = None
        self.status_pub = self.create_publisher(FeederStatus, "feeder/status", qos.STATE)
        self.add_on_set_parameters_callback(self._check_config)
        self.add_post_set_parameters_callback(lambda _p: self._reconfigure())
        self.create_subscription(BeltOccupancy, "belt/occupancy", self.on_occupancy, qos.STATE)
        self.create_subscription(Float64, "feeder/setpoint", self.on_setpoint, qos.STATE)
        self.create_service(SetFeedRate, "feeder/set_feed_rate", self.on_set_feed_rate)
        self.create_timer(1.0 / self.params["control_rate_hz"], self.step)

    def _config(self, overrides: dict | None = None) -> FeederConfig:
        p = {**self.params, **(overrides or {})}
        return FeederConfig(
            feed_rate_kg_h=p["feed_rate_kg_h"],
            max_feed_rate_kg_h=p["max_feed_rate_kg_h"],
            occupancy_limit=p["occupancy_limit"],
            kp=p["kp"],
            ki=p["ki"],
        )

    def _check_config(self, params: list[Parameter]) -> SetParametersResult:
        try:
            self._config({p.name: p.value for p in params})
        except ValueError as err:
            return SetParametersResult(successful=False, reason=str(err))
        return SetParametersResult(successful=True)

    def _reconfigure(self) -> None:
        self.controller.set_setpoint(self.params["feed_rate_kg_h"])
        self.controller.config = self._config()
        self.flow.time_constant_s = self.params["flow_filter_time_constant_s"]

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.driver.connect()
        except ConnectionError as err:
            self.diag.set_error(f"feeder controller unreachable: {err}")
            return TransitionCallbackReturn.FAILURE
        self.diag.set_error(None)
        self.controller.reset()
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = True
        self.last_step_s = None
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = False
        self.drive = 0.0
        self.driver.set_drive(0.0)
        return super().on_deactivate(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.fail_safe()
        return TransitionCallbackReturn.SUCCESS

    def fail_safe(self) -> None:
        """Stop the tray (also called by run_node on process exit)."""
        self.active = False
        self.driver.set_drive(0.0)

    @guarded("setpoint")
    def on_setpoint(self, msg: Float64) -> None:
        set_double_parameter(self, "feed_rate_kg_h", msg.data)

    def on_set_feed_rate(self, request: SetFeedRate.Request, response: SetFeedRate.Response):
        return answer_setpoint(self, "feed_rate_kg_h", request.feed_rate_kg_h, response, "kg/h")

    @guarded("occupancy")
    def on_occupancy(self, msg: BeltOccupancy) -> None:
        values = (msg.occupancy, msg.mass_flow_kg_s, msg.strip_duration_s)
        if not all(math.isfinite(v) for v in values) or msg.occupancy < 0 or msg.occupancy > 1:
            raise ValueError(f"occupancy message out of range {values}")
        self.occupancy = msg.occupancy
        self.flow.update(from_time_msg(msg.header.stamp), msg.mass_flow_kg_s * 3600.0)

    @guarded("control")
    def step(self) -> None:
        now = self.get_clock().now().nanoseconds * 1e-9
        dt = 0.0 if self.last_step_s is None else now - self.last_step_s
        self.last_step_s = now
        measured = self.flow.value
        if self.active:
            # Until the scan has measured anything, run open loop on the feed-forward.
            if measured is None:
                self.drive = self.controller.feed_forward
            else:
                self.drive = self.controller.update(measured, self.occupancy, dt)
            self.driver.set_drive(self.drive)
        status = FeederStatus()
        status.header.stamp = self.get_clock().now().to_msg()
        status.active = self.active
        status.setpoint_kg_h = float(self.params["feed_rate_kg_h"])
        status.measured_kg_h = float(measured or 0.0)
        status.occupancy = float(self.occupancy)
        status.occupancy_limit = float(self.params["occupancy_limit"])
        status.drive = float(self.drive)
        self.status_pub.publish(status)
        self.diag.set_value("drive", self.drive)
        self.diag.set_value("measured_kg_h", status.measured_kg_h)


def main() -> int:
    return run_node(FeederNode, threads=1)
