"""classification: ore/waste probability per particle from dual-energy R compared at equal
high-energy attenuation (the H-L curve), threshold curve from the cell description.

Subscribes: particles/segmented (sorter_interfaces/ParticleArray).
Publishes:  particles/classified (sorter_interfaces/ParticleArray); /diagnostics.
A particle with malformed crops is dropped and counted; the rest of its array goes on."""

from __future__ import annotations

from rclpy.node import Node

from sorter.classification.adapters import classifier_from_params, classify_array
from sorter.classification.core import DualEnergyClassifier
from sorter.common import qos
from sorter.common.diagnostics import NodeDiagnostics
from sorter.common.node_utils import guarded, run_node
from sorter.common.params import ParamSpec, declare_parameters
from sorter_interfaces.msg import ParticleArray

PARAMETERS = [
    ParamSpec("r_threshold_curve", list,
              "H-L threshold curve, flattened (a_H0, R0, a_H1, R1, ...)", min=0.0, max=50.0,
              min_length=2),
    ParamSpec("r_scale", float, "logistic width of P(ore) around the curve", min=1e-4, max=10.0),
    ParamSpec("core_erosion_px", int, "edge pixels left out of R", min=0, max=10),
]


class ClassificationNode(Node):
    def __init__(self) -> None:
        super().__init__("classification")
        self.params = declare_parameters(self, PARAMETERS)
        self.diag = NodeDiagnostics(self, "classification")
        self.classifier = self._build()
        # Rebuild after every accepted change; a curve the core refuses keeps the old one.
        self.add_post_set_parameters_callback(lambda _p: self._rebuild())
        self.classified = 0
        self.pub = self.create_publisher(ParticleArray, "particles/classified", qos.PARTICLES)
        self.create_subscription(ParticleArray, "particles/segmented", self.on_particles,
                                 qos.PARTICLES)

    def _build(self) -> DualEnergyClassifier:
        return classifier_from_params(self.params)

    def _rebuild(self) -> None:
        try:
            self.classifier = self._build()
        except ValueError as err:
            self.diag.set_error(f"classifier parameters refused, previous kept: {err}")

    @guarded("particles")
    def on_particles(self, msg: ParticleArray) -> None:
        out = classify_array(msg, self.classifier, lambda why: self.diag.reject("particle", why))
        self.classified += len(out.particles)
        self.pub.publish(out)
        self.diag.set_value("particles_classified", self.classified)


def main() -> int:
    return run_node(ClassificationNode, threads=1)
