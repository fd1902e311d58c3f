"""size_estimation: area, equivalent diameter, Feret max/min, min-area rectangle (the OIR
method's S = W*H*0.86, see docs/references.md, kept alongside), and mass from XRT areal density.

Topics, services and parameters: docs/nodes.md (from sorter.nodes and this node's
parameters class)."""

from __future__ import annotations

from rclpy.node import Node

from sorter import topics
from sorter.common import qos
from sorter.common.diagnostics import NodeDiagnostics
from sorter.common.node_utils import guarded, run_node
from sorter.common.ros_parameters import bind_parameters
from sorter.size_estimation.adapters import estimator_from_params, measure_array
from sorter.size_estimation.core import SizeEstimator
from sorter.size_estimation.parameters import SizeEstimationParameters
from sorter_interfaces.msg import ParticleArray


class SizeEstimationNode(Node):
    def __init__(self) -> None:
        super().__init__(SizeEstimationParameters.NODE)
        self.diag = NodeDiagnostics(self, "size_estimation")
        self.estimator: SizeEstimator
        self.params = bind_parameters(self, SizeEstimationParameters, self._apply,
                                      lambda why: self.diag.reject("parameter", why))
        self.measured = 0
        self.pub = self.create_publisher(ParticleArray, topics.PARTICLES_MEASURED.name,
                                         qos.PARTICLES)
        self.create_subscription(ParticleArray, topics.PARTICLES_CLASSIFIED.name,
                                 self.on_particles, qos.PARTICLES)

    def _apply(self, params: SizeEstimationParameters) -> None:
        """Build the estimator the parameters describe (an unknown reference formula refuses
        the change and keeps the estimator in use)."""
        self.estimator = estimator_from_params(params)

    @guarded("particles")
    def on_particles(self, msg: ParticleArray) -> None:
        out = measure_array(msg, self.estimator, lambda why: self.diag.reject("particle", why))
        self.measured += len(out.particles)
        self.pub.publish(out)
        self.diag.set_value("particles_measured", self.measured)


def main() -> int:
    return run_node(SizeEstimationNode, threads=1)
