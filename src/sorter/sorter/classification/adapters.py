"""ParticleArray in -> classified ParticleArray out, shared by the node and the offline replay.
A particle whose crops are malformed is handed to `reject` with the reason and left out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sorter.classification.core import DualEnergyClassifier
from sorter.classification.parameters import ClassificationParameters
from sorter.common.particle_crops import particle_crops
from sorter_interfaces.msg import ParticleArray


def classifier_from_params(p: ClassificationParameters) -> DualEnergyClassifier:
    """The classifier as the node's parameters describe it (node, offline replay, bench)."""
    return DualEnergyClassifier(p.classifier_config())


def classify_array(msg: Any, classifier: DualEnergyClassifier,
                   reject: Callable[[str], None]) -> ParticleArray:
    out = ParticleArray(header=msg.header, strip_index=msg.strip_index)
    for particle in msg.particles:
        try:
            mask, low, high = particle_crops(particle)
            result = classifier.classify(mask, low, high)
        except ValueError as err:
            reject(str(err))
            continue
        particle.classified = True
        particle.ratio_r = float(result.ratio_r)
        particle.mean_attenuation_high = float(result.mean_attenuation_high)
        particle.ore_probability = float(result.ore_probability)
        particle.is_ore = bool(result.is_ore)
        out.particles.append(particle)
    return out
