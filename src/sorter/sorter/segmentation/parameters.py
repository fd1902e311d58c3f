"""Parameters of the `segmentation` node, declared once (see sorter.common.params)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sorter.common.params import NodeParameters, param


@dataclass(frozen=True, kw_only=True)
class SegmentationParameters(NodeParameters):
    NODE: ClassVar[str] = "segmentation"

    attenuation_threshold: float = param("high-channel ln(I0/I) that marks a particle",
                                         cell="segmentation.attenuation_threshold", min=1e-3,
                                         max=5.0)
    min_area_px: int = param("smallest particle kept [px]", cell="segmentation.min_area_px",
                             min=1, max=100000)
    split_min_distance_px: int = param("watershed seeds closer than this merge [px]",
                                       cell="segmentation.split_min_distance_px", min=1,
                                       max=1000)
    max_carry_strips: int = param("longest particle in strips before it is forced out",
                                  cell="segmentation.max_carry_strips", min=1, max=64)
    reference_formula: str = param("material the belt/occupancy mass-flow estimate is "
                                   "calibrated on (chemical formula)",
                                   cell="size_estimation.reference_formula")
    effective_energy_high_kev: float = param("high channel effective energy [keV]",
                                             cell="detector.effective_energy_high_kev",
                                             min=10.0, max=500.0)
