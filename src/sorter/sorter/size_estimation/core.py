"""Size, shape and mass of one particle from its XRT footprint.

Geometry is measured on the convex hull of the *pixel corners* (not centres): the footprint is
the union of its pixel squares, so a single pixel has area and Feret diameters of one pixel,
and anisotropic pixels (line pitch along travel != detector pitch across) are handled by
scaling corner coordinates to metres before any measurement. The corner hull is the hull of
the corners of the pixel-centre hull's vertices (OpenCV contours + convexHull), so it costs
O(boundary), not O(pixels).

Mass comes from the high-energy attenuation: a_H = (mu/rho) * (rho * t), so each pixel's areal
density is a_H / (mu/rho)_ref and mass = sum(areal density) * pixel area. The reference
material's mass attenuation at the high effective energy comes from sorter.physics (xraylib).
This is exact for a mono-energetic beam and a particle of the reference composition; a real
polychromatic beam hardens (a_H grows less than linearly with thickness) and heavier minerals
attenuate more per kg, so masses of thick or sulphide-rich rocks are biased; calibrate
(mu/rho)_ref on weighed rocks where that matters.

No ROS import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import overload

import cv2
import numpy as np

from sorter import physics

# the four corners of a pixel around its centre, in half-pixel units: (col, row) offsets
_CORNER_OFFSETS = np.array([[[-1, -1]], [[-1, 1]], [[1, -1]], [[1, 1]]], np.int32).reshape(1, 4, 2)


@dataclass
class SizingConfig:
    """The cell description's `size_estimation` section plus the detector's high energy."""

    reference_formula: str  # areal density calibrated against this material (xraylib formula)
    reference_density_kg_m3: float  # to turn mass into volume
    rectangle_area_factor: float  # S = W * H * 0.86 (OIR method, see docs/references.md)
    effective_energy_high_kev: float  # mono-energetic stand-in for the high layer's spectrum


@dataclass
class Measurement:
    area_m2: float  # footprint area (pixel count x pixel area)
    equivalent_diameter_m: float  # diameter of the circle with that area
    feret_max_m: float  # largest caliper width of the footprint
    feret_min_m: float  # smallest caliper width of the footprint
    rect_length_m: float  # minimum-area bounding rectangle, long side
    rect_width_m: float  # minimum-area bounding rectangle, short side
    rect_area_estimate_m2: float  # S = length x width x rectangle_area_factor (OIR method)
    areal_density_kg_m2: float  # mean over the footprint
    mass_kg: float  # from the XRT areal density (not clamped: noise can make tiny ones < 0)
    volume_m3: float  # mass / reference density
    pixel_count: int = 0
    rect_angle_rad: float = 0.0  # long side's angle from the across-belt (y) axis


@overload
def areal_density_kg_m2(attenuation_high: np.ndarray, mu_mass_m2_kg: float) -> np.ndarray: ...
@overload
def areal_density_kg_m2(attenuation_high: float, mu_mass_m2_kg: float) -> float: ...
def areal_density_kg_m2(attenuation_high: float | np.ndarray, mu_mass_m2_kg: float
                        ) -> float | np.ndarray:
    """Areal density [kg/m^2] = a_H / (mu/rho) [m^2/kg]; a scalar, a sum or an array.

    Used per particle (mass) and per strip (mass flow: sum of a_H x pixel area / (mu/rho)).
    """
    if not (math.isfinite(mu_mass_m2_kg) and mu_mass_m2_kg > 0):
        raise ValueError(f"mass attenuation must be finite and > 0, got {mu_mass_m2_kg}")
    if isinstance(attenuation_high, np.ndarray):
        return attenuation_high.astype(np.float64) / mu_mass_m2_kg
    return float(attenuation_high) / mu_mass_m2_kg


@dataclass
class HullGeometry:
    """Caliper measures of a footprint's convex hull, in metres."""

    feret_max_m: float
    feret_min_m: float
    rect_length_m: float
    rect_width_m: float
    rect_angle_rad: float
    hull_m: np.ndarray  # (n, 2) vertices (y across, x along) [m], crop's top-left corner = 0


def hull_geometry(mask: np.ndarray, pixel_along_m: float, pixel_across_m: float) -> HullGeometry:
    """Feret max/min and the minimum-area rectangle of the pixel-corner convex hull.

    Feret max is the largest vertex-to-vertex distance. For a convex polygon both the minimum
    width and the minimum-area enclosing rectangle have a side flush with a hull edge
    (rotating calipers), so both are found exactly by testing every edge direction.
    """
    m8 = np.ascontiguousarray(np.asarray(mask) != 0, dtype=np.uint8)
    contours, _ = cv2.findContours(m8, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        raise ValueError("mask is empty")
    # hull of the pixel centres (cv2, integer (col, row)), then of the four corners of each of
    # its vertices, in half-pixel units so everything stays integer and exact
    centres = cv2.convexHull(np.concatenate(contours)).reshape(-1, 1, 2)
    corners = (2 * centres + 1 + _CORNER_OFFSETS).reshape(-1, 1, 2).astype(np.int32)
    hull = cv2.convexHull(corners).reshape(-1, 2).astype(np.float64)
    hull *= np.array([0.5 * pixel_across_m, 0.5 * pixel_along_m])
    # Feret max: all vertex pairs (a hull has tens of vertices)
    diff = hull[:, None, :] - hull[None, :, :]
    feret_max = float(np.sqrt(np.einsum("ijk,ijk->ij", diff, diff).max()))
    edges = np.concatenate([hull[1:], hull[:1]]) - hull
    u = edges / np.hypot(edges[:, 0], edges[:, 1])[:, None]  # edge directions (no repeats)
    v = u[:, ::-1] * np.array([-1.0, 1.0])  # edge normals
    pu = u @ hull.T  # (edges, vertices)
    pv = v @ hull.T
    length = pu.max(1) - pu.min(1)
    width = pv.max(1) - pv.min(1)
    feret_min = float(width.min())
    best = int(np.argmin(length * width))
    a, b = float(length[best]), float(width[best])
    direction = u[best] if a >= b else v[best]
    angle = math.atan2(direction[1], direction[0])
    # report the long side's angle in (-pi/2, pi/2]
    if angle <= -math.pi / 2:
        angle += math.pi
    elif angle > math.pi / 2:
        angle -= math.pi
    return HullGeometry(
        feret_max_m=feret_max,
        feret_min_m=feret_min,
        rect_length_m=max(a, b),
        rect_width_m=min(a, b),
        rect_angle_rad=angle,
        hull_m=hull,
    )


class SizeEstimator:
    """Per-particle size, shape and mass; one instance per cell configuration."""

    def __init__(self, config: SizingConfig):
        if not (math.isfinite(config.reference_density_kg_m3)
                and config.reference_density_kg_m3 > 0):
            raise ValueError(
                f"reference_density_kg_m3 must be > 0, got {config.reference_density_kg_m3}"
            )
        if not (math.isfinite(config.rectangle_area_factor)
                and 0 < config.rectangle_area_factor <= 1.0):
            raise ValueError(
                f"rectangle_area_factor must be in (0, 1], got {config.rectangle_area_factor}"
            )
        if not isinstance(config.reference_formula, str) or not config.reference_formula:
            raise ValueError(
                f"reference_formula must be a formula, got {config.reference_formula!r}"
            )
        # physics raises ValueError on a bad energy or formula
        self.mu_mass_m2_kg = physics.mass_attenuation_m2_kg(
            config.reference_formula, float(config.effective_energy_high_kev)
        )
        self.config = config

    def measure(self, mask: np.ndarray, attenuation_high: np.ndarray, pixel_along_m: float,
                pixel_across_m: float) -> Measurement:
        """Measure one particle; ValueError with a precise message on unusable input."""
        m, a_h = self._check(mask, attenuation_high, pixel_along_m, pixel_across_m)
        n = int(np.count_nonzero(m))
        pixel_area = pixel_along_m * pixel_across_m
        area = n * pixel_area
        geom = hull_geometry(m, pixel_along_m, pixel_across_m)
        sum_h = float(a_h[m].sum(dtype=np.float64))
        mass = areal_density_kg_m2(sum_h, self.mu_mass_m2_kg) * pixel_area
        return Measurement(
            area_m2=area,
            equivalent_diameter_m=math.sqrt(4.0 * area / math.pi),
            feret_max_m=geom.feret_max_m,
            feret_min_m=geom.feret_min_m,
            rect_length_m=geom.rect_length_m,
            rect_width_m=geom.rect_width_m,
            rect_area_estimate_m2=(geom.rect_length_m * geom.rect_width_m
                                   * self.config.rectangle_area_factor),
            areal_density_kg_m2=mass / area,
            mass_kg=mass,
            volume_m3=mass / self.config.reference_density_kg_m3,
            pixel_count=n,
            rect_angle_rad=geom.rect_angle_rad,
        )

    @staticmethod
    def _check(mask: np.ndarray, attenuation_high: np.ndarray, pixel_along_m: float,
               pixel_across_m: float) -> tuple[np.ndarray, np.ndarray]:
        for name, value in (("pixel_along_m", pixel_along_m), ("pixel_across_m", pixel_across_m)):
            try:
                ok = math.isfinite(float(value)) and float(value) > 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ValueError(f"{name} must be finite and > 0, got {value!r}")
        m = np.asarray(mask)
        a = np.asarray(attenuation_high)
        if m.ndim != 2:
            raise ValueError(f"mask must be 2-D, got shape {m.shape}")
        if a.shape != m.shape:
            raise ValueError(f"attenuation_high shape {a.shape} != mask shape {m.shape}")
        if not np.issubdtype(a.dtype, np.number):
            raise ValueError(f"attenuation_high has non-numeric dtype {a.dtype}")
        bad = ~np.isfinite(a)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise ValueError(
                f"attenuation_high has {int(bad.sum())} non-finite value(s), first at "
                f"row {r}, col {c}"
            )
        mb = m != 0
        if not mb.any():
            raise ValueError(f"mask {m.shape} is empty: no particle pixels")
        return mb, a.astype(np.float64, copy=False)
