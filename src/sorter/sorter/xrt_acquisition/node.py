"""xrt_acquisition (lifecycle): raw dual-energy strips from the detector driver -> dark/flat
corrected mono16 strips stamped with the time and encoder position of their first line.

Configure acquires the dark and flat references; activate starts the stream.

Topics, services and parameters: docs/nodes.md (from sorter.nodes and this node's
parameters class)."""

from __future__ import annotations

from typing import Any

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.lifecycle import (
    LifecycleNode,
    LifecyclePublisher,
    LifecycleState,
    TransitionCallbackReturn,
)
from sensor_msgs.msg import Image

from sorter import topics
from sorter.common import qos
from sorter.common.diagnostics import NodeDiagnostics
from sorter.common.node_utils import guarded, run_node
from sorter.common.ros_parameters import bind_parameters
from sorter.xrt_acquisition.adapters import strip_to_msg
from sorter.xrt_acquisition.core import FlatFieldCorrector, RawStrip, StripValidator
from sorter.xrt_acquisition.drivers import DRIVERS
from sorter.xrt_acquisition.parameters import XrtAcquisitionParameters
from sorter_interfaces.msg import XrtStrip


class XrtAcquisitionNode(LifecycleNode):
    def __init__(self) -> None:
        super().__init__(XrtAcquisitionParameters.NODE)
        self.diag = NodeDiagnostics(self, "xrt_detector")
        # reference_lines, the only runtime parameter, is read at the next configure.
        self.params = bind_parameters(self, XrtAcquisitionParameters, None,
                                      lambda why: self.diag.reject("parameter", why))
        # The reference-service client gets its own group so configure can wait on it; strips
        # go through one mutually exclusive group so they are corrected and sent in order.
        self.group = MutuallyExclusiveCallbackGroup()
        self.driver: Any = None
        self.corrector: FlatFieldCorrector | None = None
        self.validator = StripValidator(self.params.pixels, self.params.lines_per_strip)
        self.published = 0
        self.dropped_inactive = 0
        self.strip_pub: LifecyclePublisher | None = None
        self.low_pub: LifecyclePublisher | None = None
        self.high_pub: LifecyclePublisher | None = None

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        p = self.params
        self.driver = DRIVERS[p.driver](self, self.group, self._driver_error)
        try:
            dark = self.driver.acquire_reference(dark=True, lines=p.reference_lines)
            flat = self.driver.acquire_reference(dark=False, lines=p.reference_lines)
            self.corrector = FlatFieldCorrector(dark[0], dark[1], flat[0], flat[1])
        except (TimeoutError, RuntimeError, ValueError) as err:
            self.diag.set_error(f"calibration failed: {err}")
            return TransitionCallbackReturn.FAILURE
        if self.corrector.pixels != p.pixels:
            self.diag.set_error(
                f"detector reports {self.corrector.pixels} pixels, cell says {p.pixels}"
            )
            return TransitionCallbackReturn.FAILURE
        self.diag.set_error(None)
        self.diag.set_value("flat_low_mean_counts", float(flat[0].mean()))
        self.diag.set_value("flat_high_mean_counts", float(flat[1].mean()))
        self.strip_pub = self.create_lifecycle_publisher(XrtStrip, topics.XRT_STRIP.name,
                                                         qos.STRIPS)
        self.low_pub = self.create_lifecycle_publisher(Image, topics.XRT_LOW_IMAGE.name,
                                                       qos.IMAGE_VIEW)
        self.high_pub = self.create_lifecycle_publisher(Image, topics.XRT_HIGH_IMAGE.name,
                                                        qos.IMAGE_VIEW)
        self.get_logger().info("calibrated: dark and flat references acquired")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.driver.start(self.on_raw_strip)
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.driver.stop()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        for pub in (self.strip_pub, self.low_pub, self.high_pub):
            if pub is not None:
                self.destroy_publisher(pub)
        self.strip_pub = self.low_pub = self.high_pub = None
        self.corrector = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self.driver is not None:
            self.driver.stop()
        return TransitionCallbackReturn.SUCCESS

    def _driver_error(self, reason: str) -> None:
        self.diag.reject("raw_strip", reason)

    @guarded("raw_strip")
    def on_raw_strip(self, strip: RawStrip) -> None:
        corrector, strip_pub = self.corrector, self.strip_pub
        low_pub, high_pub = self.low_pub, self.high_pub
        if corrector is None or strip_pub is None or low_pub is None or high_pub is None:
            raise RuntimeError("raw strip before configure (the driver runs only when active)")
        if not strip_pub.is_activated:
            # A strip whose callback was already queued when the node was deactivated: the
            # stream has stopped, so it is neither published nor counted as published.
            self.dropped_inactive += 1
            self.diag.set_value("strips_after_deactivate", self.dropped_inactive)
            return
        self.validator.check(strip)
        low, high = corrector.correct(strip)
        msg = strip_to_msg(strip, low, high, self.params.pixel_pitch_m, corrected=True)
        strip_pub.publish(msg)
        if low_pub.get_subscription_count():
            low_pub.publish(msg.low)
        if high_pub.get_subscription_count():
            high_pub.publish(msg.high)
        self.published += 1
        self.diag.set_value("strips_published", self.published)
        self.diag.set_value("strips_lost", self.validator.lost_strips)


def main() -> int:
    return run_node(XrtAcquisitionNode)
