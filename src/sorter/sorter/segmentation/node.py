"""segmentation: corrected XRT strips -> particles, touching ones split, each particle reported
exactly once even when it crosses strip borders (the core stitches).

Topics, services and parameters: docs/nodes.md (from sorter.nodes and this node's
parameters class)."""

from __future__ import annotations

import dataclasses

from rclpy.node import Node

from sorter import topics
from sorter.common import qos
from sorter.common.diagnostics import NodeDiagnostics
from sorter.common.node_utils import guarded, run_node
from sorter.common.ros_parameters import bind_parameters
from sorter.physics import mass_attenuation_m2_kg
from sorter.segmentation.adapters import StripStream, segmenter_from_params
from sorter.segmentation.parameters import SegmentationParameters
from sorter_interfaces.msg import BeltOccupancy, ParticleArray, XrtStrip


class SegmentationNode(Node):
    def __init__(self) -> None:
        super().__init__(SegmentationParameters.NODE)
        self.diag = NodeDiagnostics(self, "segmentation")
        self.stream: StripStream | None = None
        self.mu_high = 0.0
        self.params = bind_parameters(self, SegmentationParameters, self._apply,
                                      lambda why: self.diag.reject("parameter", why))
        self.particles_out = 0
        self.pub = self.create_publisher(ParticleArray, topics.PARTICLES_SEGMENTED.name,
                                         qos.PARTICLES)
        self.occupancy_pub = self.create_publisher(BeltOccupancy, topics.BELT_OCCUPANCY.name,
                                                   qos.STATE)
        self.create_subscription(XrtStrip, topics.XRT_STRIP.name, self.on_strip, qos.STRIPS)

    def _apply(self, params: SegmentationParameters) -> None:
        """Check the new settings by building a segmenter (at the current pitch, or a nominal
        1 mm before the first strip) and the mass-flow reference, then use them from the next
        strip on. Particles carried across the strip border are not reinterpreted: the
        stream restarts (ids keep counting up)."""
        pitch = self.stream.pixel_pitch_m if self.stream and self.stream.pixel_pitch_m else 1e-3
        segmenter_from_params(params, pitch)
        mu_high = mass_attenuation_m2_kg(params.reference_formula,
                                         params.effective_energy_high_kev)
        if self.stream is None:
            self.stream = StripStream(params)
        else:
            self.stream.reconfigure(params)
        self.mu_high = mu_high

    @guarded("strip")
    def on_strip(self, msg: XrtStrip) -> None:
        assert self.stream is not None  # built by bind_parameters
        out, strip, result = self.stream.push(msg)
        segmenter, pixel_pitch_m = self.stream.segmenter, self.stream.pixel_pitch_m
        assert segmenter is not None and pixel_pitch_m is not None  # set by the push
        self.pub.publish(out)
        self.particles_out += len(out.particles)

        duration = strip.line_period_s * strip.high.shape[0]
        pixel_area = strip.line_pitch_m * pixel_pitch_m
        occupancy = BeltOccupancy()
        occupancy.header = msg.header
        occupancy.occupancy = float(result.occupancy)
        mass_kg = result.attenuation_high_sum / self.mu_high * pixel_area
        occupancy.mass_flow_kg_s = mass_kg / duration
        occupancy.strip_duration_s = duration
        self.occupancy_pub.publish(occupancy)

        self.diag.set_value("particles_published", self.particles_out)
        for key, value in dataclasses.asdict(segmenter.counters).items():
            self.diag.set_value(key, value)


def main() -> int:
    return run_node(SegmentationNode, threads=1)
