"""feeder (lifecycle): closed-loop vibratory feed. The loop runs on what the scan measures on
the belt (mass flow from XRT areal density, and area occupancy): mass flow tracks the set-point,
and occupancy above its limit throttles the drive, since overlapping particles cost grade.

Drivers:    sim (sim_world over topics) | modbus (feeder controller over Modbus TCP).
Deactivate stops the tray (drive 0). Throttling (occupancy above its limit) is WARN on
/diagnostics and `throttled` on feeder/status; the drive held at full with the flow still
short for saturation_fault_s (a blocked chute, an empty hopper) is ERROR and `saturated`.

Topics, services and parameters: docs/nodes.md (from sorter.nodes and this node's
parameters class)."""

from __future__ import annotations

import math

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from std_msgs.msg import Float64

from sorter import topics
from sorter.common import qos
from sorter.common.diagnostics import ERROR, OK, WARN, NodeDiagnostics
from sorter.common.node_utils import answer_setpoint, guarded, run_node
from sorter.common.ros_parameters import bind_parameters, set_parameter
from sorter.common.timeutil import from_time_msg
from sorter.feeder.core import FeedController
from sorter.feeder.drivers import DRIVERS
from sorter.feeder.flow_filter import MassFlowFilter
from sorter.feeder.parameters import FeederParameters
from sorter_interfaces.msg import BeltOccupancy, FeederStatus
from sorter_interfaces.srv import SetFeedRate


class FeederNode(LifecycleNode):
    def __init__(self) -> None:
        super().__init__(FeederParameters.NODE)
        self.diag = NodeDiagnostics(self, "vibratory_feeder")
        self._controller: FeedController | None = None
        self._flow: MassFlowFilter | None = None
        self.params = bind_parameters(self, FeederParameters, self._apply,
                                      lambda why: self.diag.reject("parameter", why))
        self.driver = DRIVERS[self.params.driver](self)
        self.occupancy = 0.0
        self.drive = 0.0
        self.active = False
        self.last_step_s: float | None = None
        self.status_pub = self.create_publisher(FeederStatus, topics.FEEDER_STATUS.name,
                                                qos.STATE)
        self.create_subscription(BeltOccupancy, topics.BELT_OCCUPANCY.name, self.on_occupancy,
                                 qos.STATE)
        self.create_subscription(Float64, topics.FEEDER_SETPOINT.name, self.on_setpoint,
                                 qos.STATE)
        self.create_service(SetFeedRate, topics.FEEDER_SET_FEED_RATE.name,
                            self.on_set_feed_rate)
        self.create_timer(1.0 / self.params.control_rate_hz, self.step)

    @property
    def controller(self) -> FeedController:
        if self._controller is None:
            raise RuntimeError("feed controller not built: parameters not applied")
        return self._controller

    @property
    def flow(self) -> MassFlowFilter:
        if self._flow is None:
            raise RuntimeError("mass-flow filter not built: parameters not applied")
        return self._flow

    def _apply(self, params: FeederParameters) -> None:
        """Check the whole loop configuration first (FeederConfig refuses a set-point above
        the maximum rate, a bad time constant is refused by a trial filter), then swap it in
        without a bump: the controller keeps its integral and reference."""
        config = params.feeder_config()
        MassFlowFilter(params.flow_filter_time_constant_s)  # raises before anything changes
        if self._controller is None or self._flow is None:
            self._controller = FeedController(config)
            self._flow = MassFlowFilter(params.flow_filter_time_constant_s)
            return
        if config.feed_rate_kg_h <= self.controller.config.max_feed_rate_kg_h:
            self.controller.set_setpoint(config.feed_rate_kg_h)
            self.controller.config = config
        else:  # the new maximum admits the new set-point (FeederConfig checked it)
            self.controller.config = config
            self.controller.set_setpoint(config.feed_rate_kg_h)
        self.flow.time_constant_s = params.flow_filter_time_constant_s

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
        set_parameter(self, "feed_rate_kg_h", msg.data)

    def on_set_feed_rate(self, request: SetFeedRate.Request, response: SetFeedRate.Response
                         ) -> SetFeedRate.Response:
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
        status.setpoint_kg_h = self.params.feed_rate_kg_h
        status.measured_kg_h = float(measured or 0.0)
        status.occupancy = float(self.occupancy)
        status.occupancy_limit = self.params.occupancy_limit
        status.drive = float(self.drive)
        # The controller's state moves only while the loop runs; inactive, nothing is held.
        ctrl = self.controller
        status.throttled = bool(self.active and ctrl.throttled)
        status.saturated_for_s = float(ctrl.saturated_for_s if self.active else 0.0)
        status.saturation_fault_s = float(ctrl.config.saturation_fault_s)
        status.saturated = bool(self.active and ctrl.saturated)
        self.status_pub.publish(status)
        self.diag.set_value("drive", self.drive)
        self.diag.set_value("measured_kg_h", status.measured_kg_h)
        self.diag.set_value("occupancy", status.occupancy)
        self.diag.set_value("throttled", status.throttled)
        self.diag.set_value("saturated_for_s", status.saturated_for_s)
        if status.throttled:
            self.diag.set_condition(
                "throttled", WARN,
                f"drive throttled to {self.drive:.2f} by the occupancy ceiling: occupancy "
                f"{status.occupancy:.3f} (limit {status.occupancy_limit:.3f}), mass flow "
                f"{status.measured_kg_h:.0f} of {status.setpoint_kg_h:.0f} kg/h")
        else:
            self.diag.set_condition("throttled", OK)
        if status.saturated:
            self.diag.set_condition(
                "saturated", ERROR,
                f"feeder saturated: drive at 1 for {status.saturated_for_s:.1f} s with mass flow "
                f"{status.measured_kg_h:.0f} of {status.setpoint_kg_h:.0f} kg/h: blocked chute "
                "or empty hopper?")
        else:
            self.diag.set_condition("saturated", OK)


def main() -> int:
    return run_node(FeederNode, threads=1)
