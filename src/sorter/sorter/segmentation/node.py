"""segmentation: corrected XRT strips -> particles, touching ones split, each particle reported
exactly once even when it crosses strip borders (the core stitches).

Subscribes: xrt/strip (sorter_interfaces/XrtStrip, reliable).
Publishes:  particles/segmented (sorter_interfaces/ParticleArray, reliable, one per strip);
            belt/occupancy (sorter_interfaces/BeltOccupancy) for the feeder loop; /diagnostics."""

from __future__ import annotations

import dataclasses

from rclpy.node import Node

from sorter.common import qos
from sorter.common.diagnostics import NodeDiagnostics
from sorter.common.node_utils import guarded, run_node
from sorter.common.params import ParamSpec, declare_parameters
from sorter.physics import mass_attenuation_m2_kg
from sorter.segmentation.adapters import StripStream
from sorter_interfaces.msg import BeltOccupancy, ParticleArray, XrtStrip

PARAMETERS = [
    ParamSpec("attenuation_threshold", float, "high-channel ln(I0/I) that marks a particle",
              min=1e-3, max=5.0),
    ParamSpec("min_area_px", int, "smallest particle kept [px]", min=1, max=100000),
    ParamSpec("split_min_distance_px", int, "watershed seeds closer than this merge [px]",
              min=1, max=1000),
    ParamSpec("max_carry_strips", int, "longest particle in strips before it is forced out",
              min=1, max=64),
    ParamSpec("reference_formula", str, "material the mass-flow estimate is calibrated on"),
    ParamSpec("effective_energy_high_kev", float, "high channel effective energy [keV]",
              min=10.0, max=500.0),
]


class SegmentationNode(Node):
    def __init__(self) -> None:
        super().__init__("segmentation")
        self.params = declare_parameters(self, PARAMETERS)
        self.diag = NodeDiagnostics(self, "segmentation")
        self.stream = StripStream(self.params)
        self.add_post_set_parameters_callback(lambda _params: self.stream.reset())
        self.mu_high = mass_attenuation_m2_kg(
            self.params["reference_formula"], self.params["effective_energy_high_kev"]
        )
        self.particles_out = 0
        self.pub = self.create_publisher(ParticleArray, "particles/segmented", qos.PARTICLES)
        self.occupancy_pub = self.create_publisher(BeltOccupancy, "belt/occupancy", qos.STATE)
        self.create_subscription(XrtStrip, "xrt/strip", self.on_strip, qos.STRIPS)

    @guarded("strip")
    def on_strip(self, msg: XrtStrip) -> None:
        out, strip, result = self.stream.push(msg)
        self.pub.publish(out)
        self.particles_out += len(out.particles)

        duration = strip.line_period_s * strip.high.shape[0]
        pixel_area = strip.line_pitch_m * self.stream.pixel_pitch_m
        occupancy = BeltOccupancy()
        occupancy.header = msg.header
        occupancy.occupancy = float(result.occupancy)
        mass_kg = result.attenuation_high_sum / self.mu_high * pixel_area
        occupancy.mass_flow_kg_s = mass_kg / duration
        occupancy.strip_duration_s = duration
        self.occupancy_pub.publish(occupancy)

        self.diag.set_value("particles_published", self.particles_out)
        for key, value in dataclasses.asdict(self.stream.segmenter.counters).items():
            self.diag.set_value(key, value)


def main() -> int:
    return run_node(SegmentationNode, threads=1)
