"""size_estimation: area, equivalent diameter, Feret max/min, min-area rectangle (seed 000's
S = W*H*0.86 kept alongside), and mass from XRT areal density.

Subscribes: particles/classified (sorter_interfaces/ParticleArray).
Publishes:  particles/measured (sorter_interfaces/ParticleArray); /diagnostics."""

from __future__ import annotations

from rclpy.node import Node

from sorter.common import qos
from sorter.common.diagnostics import NodeDiagnostics
from sorter.common.node_utils import guarded, run_node
from sorter.common.params import ParamSpec, declare_parameters
from sorter.size_estimation.adapters import estimator_from_params, measure_array
from sorter.size_estimation.core import SizeEstimator
from sorter_interfaces.msg import ParticleArray

PARAMETERS = [
    ParamSpec("reference_formula", str, "material the areal density is calibrated on"),
    ParamSpec("reference_density_kg_m3", float, "density used for volume [kg/m^3]",
              min=100.0, max=25000.0),
    ParamSpec("effective_energy_high_kev", float, "high channel effective energy [keV]",
              min=10.0, max=500.0),
    ParamSpec("rectangle_area_factor", float, "seed 000 area factor for S = W*H*k",
              min=0.1, max=1.0),
]


class SizeEstimationNode(Node):
    def __init__(self) -> None:
        super().__init__("size_estimation")
        self.params = declare_parameters(self, PARAMETERS)
        self.diag = NodeDiagnostics(self, "size_estimation")
        self.estimator = self._build()
        self.add_post_set_parameters_callback(lambda _p: self._rebuild())
        self.measured = 0
        self.pub = self.create_publisher(ParticleArray, "particles/measured", qos.PARTICLES)
        self.create_subscription(ParticleArray, "particles/classified", self.on_particles,
                                 qos.PARTICLES)

    def _build(self) -> SizeEstimator:
        return estimator_from_params(self.params)

    def _rebuild(self) -> None:
        try:
            self.estimator = self._build()
        except ValueError as err:
            self.diag.set_error(f"sizing parameters refused, previous kept: {err}")

    @guarded("particles")
    def on_particles(self, msg: ParticleArray) -> None:
        out = measure_array(msg, self.estimator, lambda why: self.diag.reject("particle", why))
        self.measured += len(out.particles)
        self.pub.publish(out)
        self.diag.set_value("particles_measured", self.measured)


def main() -> int:
    return run_node(SizeEstimationNode, threads=1)
