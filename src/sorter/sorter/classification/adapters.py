"""ParticleArray in -> classified ParticleArray out, shared by the node and the offline replay.
A particle whose crops are malformed is handed to `reject` with the reason and left out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sorter.classification.core import ClassifierConfig, DualEnergyClassifier
from sorter.common.particle_crops import particle_crops
from sorter_interfaces.msg import ParticleArray


def curve_points(flat: list[float]) -> list[tuple[float, float]]:
    """The flattened `r_threshold_curve` parameter back into (a_H, R) pairs."""
    if len(flat) % 2:
        raise ValueError(f"r_threshold_curve needs (a_H, R) pairs, got {len(flat)} values")
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


def classifier_from_params(p: dict[str, Any]) -> DualEnergyClassifier:
    """The classifier as the node's parameters describe it (node, offline replay, bench)."""
    return DualEnergyClassifier(
        ClassifierConfig(
            r_threshold_curve=curve_points(p["r_threshold_curve"]),
            r_scale=p["r_scale"],
            core_erosion_px=p["core_erosion_px"],
        )
    )


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
