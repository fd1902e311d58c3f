"""Parameters of the `size_estimation` node, declared once (see sorter.common.params)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sorter.common.params import NodeParameters, param
from sorter.size_estimation.core import SizeEstimator, SizingConfig


@dataclass(frozen=True, kw_only=True)
class SizeEstimationParameters(NodeParameters):
    NODE: ClassVar[str] = "size_estimation"

    reference_formula: str = param("material the areal density is calibrated on (chemical "
                                   "formula)", cell="size_estimation.reference_formula")
    reference_density_kg_m3: float = param("density used for volume [kg/m^3]",
                                           cell="size_estimation.reference_density_kg_m3",
                                           min=100.0, max=25000.0)
    effective_energy_high_kev: float = param("high channel effective energy [keV]",
                                             cell="detector.effective_energy_high_kev",
                                             min=10.0, max=500.0)
    rectangle_area_factor: float = param(
        "k in the rectangle area estimate S = W*H*k (see docs/references.md)",
        cell="size_estimation.rectangle_area_factor", min=0.1, max=1.0)

    def sizing_config(self) -> SizingConfig:
        return SizingConfig(reference_formula=self.reference_formula,
                            reference_density_kg_m3=self.reference_density_kg_m3,
                            rectangle_area_factor=self.rectangle_area_factor,
                            effective_energy_high_kev=self.effective_energy_high_kev)

    def check(self) -> None:
        SizeEstimator(self.sizing_config())
