"""XrtStrip -> segmentation core Strip, and core SegmentedParticle -> Particle message."""

from __future__ import annotations

from typing import Any

from sorter.common.images import image_to_array
from sorter.common.particles import fill_crops
from sorter.common.timeutil import from_time_msg, to_time_msg
from sorter.segmentation.core import SegmentedParticle, Strip
from sorter.xrt.core import attenuation_from_mono16
from sorter_interfaces.msg import Particle


def strip_from_msg(msg: Any) -> Strip:
    if not msg.corrected:
        raise ValueError(f"strip {msg.strip_index} is not dark/flat corrected")
    low = image_to_array(msg.low, "mono16")
    high = image_to_array(msg.high, "mono16")
    if low.shape != high.shape:
        raise ValueError(f"low is {low.shape}, high is {high.shape}: channels must match")
    return Strip(
        index=int(msg.strip_index),
        stamp_s=from_time_msg(msg.header.stamp),
        encoder_m=float(msg.encoder_position_m),
        line_pitch_m=float(msg.line_pitch_m),
        line_period_s=float(msg.line_period_s),
        low=attenuation_from_mono16(low),
        high=attenuation_from_mono16(high),
    )


def particle_to_msg(particle: SegmentedParticle, particle_id: int) -> Particle:
    msg = Particle()
    msg.header.stamp = to_time_msg(particle.first_line_stamp_s)
    msg.header.frame_id = "belt"
    msg.id = particle_id
    msg.strip_index = particle.strip_index
    msg.scan_complete_stamp = to_time_msg(particle.last_line_stamp_s)
    msg.leading_edge_encoder_m = particle.leading_edge_encoder_m
    msg.trailing_edge_encoder_m = particle.trailing_edge_encoder_m
    msg.centroid_encoder_m = particle.centroid_encoder_m
    msg.y_min_m = particle.y_min_m
    msg.y_max_m = particle.y_max_m
    msg.centroid_y_m = particle.centroid_y_m
    msg.pixel_along_m = particle.pixel_along_m  # mean over its own lines: speed may change
    msg.pixel_across_m = particle.pixel_across_m
    fill_crops(msg, particle.mask, particle.attenuation_low, particle.attenuation_high)
    msg.touching = bool(particle.touching)
    msg.forced_out = bool(particle.forced_out)
    msg.truncated = bool(particle.truncated)
    return msg
