"""Detector drivers behind one interface: the node never knows whether strips come from the
simulator or a real line-scan detector. The simulated driver bridges to the sim_world process
over topics, the seam a Gazebo bridge would use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from sorter import topics
from sorter.common.images import image_to_array
from sorter.common.node_utils import wait_for_future
from sorter.xrt_acquisition.adapters import raw_strip_from_msg
from sorter.xrt_acquisition.core import RawStrip


class DetectorDriver(Protocol):
    def acquire_reference(self, dark: bool, lines: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean raw counts per pixel (low, high) with the source off (dark) or empty belt."""

    def start(self, on_strip: Callable[[RawStrip], None]) -> None: ...

    def stop(self) -> None: ...


class SimDetectorDriver:
    """Raw strips from `sim/xrt/raw`; references from the `sim/xrt/acquire_reference` service."""

    def __init__(self, node: Any, callback_group: Any, on_error: Callable[[str], None]) -> None:
        from sorter.common import qos
        from sorter_interfaces.msg import XrtStrip
        from sorter_interfaces.srv import AcquireReference

        self._node = node
        self._group = callback_group
        self._on_error = on_error
        self._srv_type = AcquireReference
        self._msg_type = XrtStrip
        self._qos = qos.STRIPS
        from rclpy.callback_groups import MutuallyExclusiveCallbackGroup

        self._client = node.create_client(
            AcquireReference, topics.SIM_XRT_ACQUIRE_REFERENCE.name,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )
        self._sub = None

    def acquire_reference(self, dark: bool, lines: int) -> tuple[np.ndarray, np.ndarray]:
        if not self._client.wait_for_service(timeout_sec=10.0):
            raise TimeoutError("simulated detector (sim/xrt/acquire_reference) not available")
        request = self._srv_type.Request()
        request.kind = self._srv_type.Request.DARK if dark else self._srv_type.Request.FLAT
        request.lines = int(lines)
        response = wait_for_future(self._client.call_async(request), timeout_s=10.0)
        if not response.success:
            raise RuntimeError(f"reference acquisition failed: {response.message}")
        low = image_to_array(response.strip.low, "mono16").astype(np.float64).mean(axis=0)
        high = image_to_array(response.strip.high, "mono16").astype(np.float64).mean(axis=0)
        return low, high

    def start(self, on_strip: Callable[[RawStrip], None]) -> None:
        def receive(msg: Any) -> None:
            try:
                strip = raw_strip_from_msg(msg)
            except ValueError as err:
                self._on_error(str(err))
                return
            on_strip(strip)

        self._sub = self._node.create_subscription(
            self._msg_type, topics.SIM_XRT_RAW.name, receive, self._qos, callback_group=self._group
        )

    def stop(self) -> None:
        if self._sub is not None:
            self._node.destroy_subscription(self._sub)
            self._sub = None


DRIVERS = {"sim": SimDetectorDriver}
