"""classification: ore/waste probability per particle from dual-energy R compared at equal
high-energy attenuation (the H-L curve), threshold curve from the cell description.

A particle with malformed crops is dropped and counted; the rest of its array goes on.

Topics, services and parameters: docs/nodes.md (from sorter.nodes and this node's
parameters class)."""

from __future__ import annotations

from rclpy.node import Node

from sorter import topics
from sorter.classification.adapters import classifier_from_params, classify_array
from sorter.classification.core import DualEnergyClassifier
from sorter.classification.parameters import ClassificationParameters
from sorter.common import qos
from sorter.common.diagnostics import NodeDiagnostics
from sorter.common.node_utils import guarded, run_node
from sorter.common.ros_parameters import bind_parameters
from sorter_interfaces.msg import ParticleArray


class ClassificationNode(Node):
    def __init__(self) -> None:
        super().__init__(ClassificationParameters.NODE)
        self.diag = NodeDiagnostics(self, "classification")
        self.classifier: DualEnergyClassifier
        self.params = bind_parameters(self, ClassificationParameters, self._apply,
                                      lambda why: self.diag.reject("parameter", why))
        self.classified = 0
        self.pub = self.create_publisher(ParticleArray, topics.PARTICLES_CLASSIFIED.name,
                                         qos.PARTICLES)
        self.create_subscription(ParticleArray, topics.PARTICLES_SEGMENTED.name,
                                 self.on_particles, qos.PARTICLES)

    def _apply(self, params: ClassificationParameters) -> None:
        """Build the classifier the parameters describe; a ValueError (e.g. a curve whose a_H
        does not increase) refuses the change and keeps the classifier in use."""
        self.classifier = classifier_from_params(params)

    @guarded("particles")
    def on_particles(self, msg: ParticleArray) -> None:
        out = classify_array(msg, self.classifier, lambda why: self.diag.reject("particle", why))
        self.classified += len(out.particles)
        self.pub.publish(out)
        self.diag.set_value("particles_classified", self.classified)


def main() -> int:
    return run_node(ClassificationNode, threads=1)
