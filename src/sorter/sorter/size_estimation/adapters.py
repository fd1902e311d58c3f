"""ParticleArray in -> measured ParticleArray out, shared by the node and the offline replay.
A particle whose crops are malformed is handed to `reject` with the reason and left out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sorter.common.particle_crops import particle_crops
from sorter.size_estimation.core import SizeEstimator
from sorter.size_estimation.parameters import SizeEstimationParameters
from sorter_interfaces.msg import ParticleArray

MEASUREMENT_FIELDS = (
    "area_m2", "equivalent_diameter_m", "feret_max_m", "feret_min_m", "rect_length_m",
    "rect_width_m", "areal_density_kg_m2", "mass_kg", "volume_m3",
)


def estimator_from_params(p: SizeEstimationParameters) -> SizeEstimator:
    """The size estimator as the node's parameters describe it (node, offline replay, bench)."""
    return SizeEstimator(p.sizing_config())


def measure_array(msg: Any, estimator: SizeEstimator,
                  reject: Callable[[str], None]) -> ParticleArray:
    out = ParticleArray(header=msg.header, strip_index=msg.strip_index)
    for particle in msg.particles:
        try:
            mask, _low, high = particle_crops(particle)
            m = estimator.measure(mask, high, particle.pixel_along_m, particle.pixel_across_m)
        except ValueError as err:
            reject(str(err))
            continue
        particle.measured = True
        for name in MEASUREMENT_FIELDS:
            setattr(particle, name, float(getattr(m, name)))
        out.particles.append(particle)
    return out
