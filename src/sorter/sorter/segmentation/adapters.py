"""XrtStrip -> segmentation core Strip, and core SegmentedParticle -> Particle message."""

from __future__ import annotations

from typing import Any

from sorter.common.images import image_to_array
from sorter.common.particle_crops import fill_crops
from sorter.common.timeutil import from_time_msg, to_time_msg
from sorter.segmentation.core import (
    SegmentationConfig,
    SegmentationResult,
    SegmentedParticle,
    Strip,
)
from sorter.segmentation.parameters import SegmentationParameters
from sorter.segmentation.stitching import StripSegmenter
from sorter.xrt_acquisition.core import attenuation_from_mono16
from sorter_interfaces.msg import Particle, ParticleArray


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


def segmenter_from_params(p: SegmentationParameters, pixel_pitch_m: float) -> StripSegmenter:
    """The segmenter as the node's parameters describe it, for a detector pixel pitch."""
    return StripSegmenter(
        SegmentationConfig(
            attenuation_threshold=p.attenuation_threshold,
            min_area_px=p.min_area_px,
            split_min_distance_px=p.split_min_distance_px,
            max_carry_strips=p.max_carry_strips,
            pixel_pitch_m=pixel_pitch_m,
        )
    )


class StripStream:
    """XrtStrip messages -> ParticleArray messages with run-unique particle ids, for the node
    and the offline replay alike. The segmenter is built from `params` (the node's parameter
    names) and rebuilt when the pixel pitch changes or `reset()` is called (a parameter change:
    the carry buffer is not reinterpreted)."""

    def __init__(self, params: SegmentationParameters) -> None:
        self.params = params
        self.segmenter: StripSegmenter | None = None
        self.pixel_pitch_m: float | None = None
        self.next_id = 1

    def reconfigure(self, params: SegmentationParameters) -> None:
        """New parameters from the next strip on (the segmenter is rebuilt)."""
        self.params = params
        self.segmenter = None

    def _segmenter_for(self, pixel_pitch_m: float) -> StripSegmenter:
        if self.segmenter is None or pixel_pitch_m != self.pixel_pitch_m:
            self.segmenter = segmenter_from_params(self.params, pixel_pitch_m)
            self.pixel_pitch_m = pixel_pitch_m
        return self.segmenter

    def push(self, msg: Any) -> tuple[ParticleArray, Strip, SegmentationResult]:
        if not msg.pixel_pitch_m > 0:
            raise ValueError(f"strip {msg.strip_index}: pixel pitch {msg.pixel_pitch_m} m")
        strip = strip_from_msg(msg)
        result = self._segmenter_for(float(msg.pixel_pitch_m)).push(strip)
        out = ParticleArray(header=msg.header, strip_index=msg.strip_index)
        for particle in result.particles:
            out.particles.append(particle_to_msg(particle, self.next_id))
            self.next_id += 1
        return out, strip, result
