"""Parameters of the `classification` node, declared once (see sorter.common.params)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sorter.classification.core import ClassifierConfig, DualEnergyClassifier
from sorter.common.params import NodeParameters, flatten_pairs, param


def curve_points(flat: list[float]) -> list[tuple[float, float]]:
    """The flattened `r_threshold_curve` parameter back into (a_H, R) pairs."""
    if len(flat) % 2:
        raise ValueError(f"r_threshold_curve needs (a_H, R) pairs, got {len(flat)} values")
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


@dataclass(frozen=True, kw_only=True)
class ClassificationParameters(NodeParameters):
    NODE: ClassVar[str] = "classification"

    r_threshold_curve: list[float] = param(
        "H-L threshold curve, flattened (a_H0, R0, a_H1, R1, ...), a_H strictly increasing",
        cell="classification.r_threshold_curve", from_cell=flatten_pairs, min=0.0, max=50.0,
        min_length=2)
    r_scale: float = param("logistic width of P(ore) around the curve",
                           cell="classification.r_scale", min=1e-4, max=10.0)
    core_erosion_px: int = param("edge pixels left out of R", cell="classification.core_erosion_px",
                                 min=0, max=10)

    def classifier_config(self) -> ClassifierConfig:
        return ClassifierConfig(r_threshold_curve=curve_points(self.r_threshold_curve),
                                r_scale=self.r_scale, core_erosion_px=self.core_erosion_px)

    def check(self) -> None:
        DualEnergyClassifier(self.classifier_config())
