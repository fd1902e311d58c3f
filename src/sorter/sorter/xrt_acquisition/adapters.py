"""XrtStrip <-> strips: one conversion for the detector node, its sim driver, the simulator,
the golden-bag maker and the benchmark."""

from __future__ import annotations

from typing import Any

import numpy as np

from sorter.common.images import array_to_image, image_to_array
from sorter.common.timeutil import from_time_msg, to_time_msg
from sorter.xrt_acquisition.core import RawStrip
from sorter_interfaces.msg import XrtStrip


def strip_to_msg(strip: Any, low: np.ndarray, high: np.ndarray, pixel_pitch_m: float,
                 corrected: bool, frame_ids: tuple[str, str] = ("xrt_low", "xrt_high")
                 ) -> XrtStrip:
    """`strip` carries index, stamp_s, encoder_m, line_pitch_m and line_period_s (a RawStrip
    or the simulator's RenderedStrip); `low`/`high` are the mono16 channels to send."""
    stamp = to_time_msg(strip.stamp_s)
    msg = XrtStrip()
    msg.header.stamp = stamp
    msg.header.frame_id = "belt"
    msg.strip_index = int(strip.index)
    msg.encoder_position_m = float(strip.encoder_m)
    msg.line_pitch_m = float(strip.line_pitch_m)
    msg.line_period_s = float(strip.line_period_s)
    msg.pixel_pitch_m = float(pixel_pitch_m)
    msg.corrected = bool(corrected)
    msg.low = array_to_image(low, "mono16", stamp, frame_ids[0])
    msg.high = array_to_image(high, "mono16", stamp, frame_ids[1])
    return msg


def raw_strip_from_msg(msg: Any) -> RawStrip:
    return RawStrip(
        index=int(msg.strip_index),
        stamp_s=from_time_msg(msg.header.stamp),
        encoder_m=float(msg.encoder_position_m),
        line_pitch_m=float(msg.line_pitch_m),
        line_period_s=float(msg.line_period_s),
        low=image_to_array(msg.low, "mono16"),
        high=image_to_array(msg.high, "mono16"),
    )
