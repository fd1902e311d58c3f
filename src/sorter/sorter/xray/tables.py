"""Beam hardening, exact and fast: basis materials and a response table.

Any ray through the feed crosses a few minerals; its attenuation at energy E is
sum_m A_m * (mu/rho)_m(E) with A_m the mineral's areal density [kg/m^2]. Over the 20-160 keV
a sorter sees, every mineral's (mu/rho)(E) is a fixed combination of three basis materials to
better than 0.01 % in channel attenuation (photoelectric + Compton + what edges remain; the
bases here are SiO2, Fe and Cu). So a ray is three numbers, the basis areal densities, and both
channels' moments are smooth functions of them that can be tabulated once with the full
spectrum (beam hardening exact) and interpolated per pixel.

The table holds, per node, -ln of the ray's first and second signal moments relative to the
open beam, for both channels (4 values): the first moments give the image, the second the
compound-Poisson noise. Axes are uniform in sign(A) sqrt(|A|): nodes crowd near zero, where a
thin edge pixel's attenuation is small and a coarse cell would bias its R (FINDINGS: errors
~1 without a node at zero), and zero is a node, so an empty ray is exactly the open beam.
Interpolation is multilinear in A itself (not in sqrt A), which keeps it exact for a thin,
linear-attenuating ray.

`direct_moments` is the independent reference: the same physics integrated over the spectrum
per ray, without bases or table (it is also the benchmark's baseline).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from sorter import physics
from sorter.xray.detector import ChannelResponse
from sorter.xray.materials import Material

DEFAULT_BASES = ("SiO2", "Fe", "Cu")
MAX_ATTENUATION = 40.0  # -ln of a moment ratio is clipped here (e^-40: nothing gets through)
N_VALUES = 4            # -ln m1_low, -ln m1_high, -ln m2_low, -ln m2_high (open beam = 0)


@dataclass(frozen=True)
class BasisSet:
    """Basis materials (formulas) and their mass attenuation on the model's energy grid."""

    formulas: tuple[str, ...]
    energies_kev: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)  # where the detected signal lives, sums to 1

    @property
    def matrix(self) -> np.ndarray:
        """(bins, bases) mass attenuation [m^2/kg]."""
        return np.stack([physics.mass_attenuation_spectrum_m2_kg(f, self.energies_kev)
                         for f in self.formulas], axis=1)

    def decompose(self, mu_mass: np.ndarray) -> np.ndarray:
        """Coefficients c with mu_mass(E) ~ matrix @ c, fitted in relative error weighted by
        the detected spectrum (an error matters where the signal is)."""
        w = np.sqrt(self.weights) / np.maximum(mu_mass, 1e-30)
        coef, *_ = np.linalg.lstsq(self.matrix * w[:, None], mu_mass * w, rcond=None)
        return coef

    def material_coefficients(self, material: Material) -> np.ndarray:
        """Basis areal density per unit areal density of the material (dimensionless)."""
        return self.decompose(material.mass_attenuation(self.energies_kev))


@dataclass(frozen=True)
class SignedSqrtAxis:
    """Table axis over [lo, hi] (lo <= 0 <= hi), nodes uniform in s = sign(A) sqrt|A|."""

    lo: float
    hi: float
    nodes_positive: int

    def __post_init__(self) -> None:
        if not (self.lo <= 0.0 < self.hi and self.nodes_positive >= 2):
            raise ValueError(f"axis needs lo <= 0 < hi and >= 2 nodes, got {self}")

    @property
    def step(self) -> float:
        return math.sqrt(self.hi) / self.nodes_positive

    @property
    def nodes_negative(self) -> int:
        return 0 if self.lo == 0.0 else math.ceil(math.sqrt(-self.lo) / self.step)

    @property
    def size(self) -> int:
        return self.nodes_negative + self.nodes_positive + 1

    @property
    def s_lo(self) -> float:
        return -self.nodes_negative * self.step

    def values(self) -> np.ndarray:
        s = self.s_lo + self.step * np.arange(self.size)
        s[self.nodes_negative] = 0.0  # exactly zero
        return np.sign(s) * s * s

    def locate(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cell index i (node i .. i+1) and weight of node i+1, for values `a` (float32)."""
        step = np.float32(self.step)
        s = np.sqrt(np.abs(a))
        np.copysign(s, a, out=s)
        f = s - np.float32(self.s_lo)
        f *= np.float32(1.0 / self.step)
        np.clip(f, 0.0, self.size - 1.000001, out=f)
        i = f.astype(np.int32)
        # node positions of the cell in A, then the weight in A (linear in A, not in s)
        s0 = i.astype(np.float32)
        s0 *= step
        s0 += np.float32(self.s_lo)
        s1 = s0 + step
        a0 = np.abs(s0) * s0
        a1 = np.abs(s1) * s1
        w = np.clip(a, a0, a1)
        w -= a0
        a1 -= a0
        w /= a1
        return i, w


@dataclass
class ResponseTable:
    """-ln moment ratios on a basis-areal-density grid; one multilinear lookup per pixel."""

    axes: tuple[SignedSqrtAxis, ...]
    values: np.ndarray  # (*axis sizes, N_VALUES) float32

    def __post_init__(self) -> None:
        sizes = tuple(ax.size for ax in self.axes)
        if self.values.shape != (*sizes, N_VALUES):
            raise ValueError(f"table shape {self.values.shape} != {(*sizes, N_VALUES)}")
        self._flat = np.ascontiguousarray(self.values.reshape(-1, N_VALUES), np.float32)
        strides = np.cumprod((1, *sizes[::-1]))[:-1][::-1]
        self._strides = tuple(int(s) for s in strides)

    @property
    def dims(self) -> int:
        return len(self.axes)

    def lookup(self, basis_kg_m2: np.ndarray) -> np.ndarray:
        """(N_VALUES, n) interpolated values for basis areal densities (dims, n)."""
        a = np.asarray(basis_kg_m2, dtype=np.float32)
        if a.ndim != 2 or a.shape[0] != self.dims:
            raise ValueError(f"basis areal densities must be ({self.dims}, n), got {a.shape}")
        located = [ax.locate(a[d]) for d, ax in enumerate(self.axes)]
        base = np.zeros(a.shape[1], dtype=np.int64)
        for (i, _), stride in zip(located, self._strides, strict=True):
            base += i.astype(np.int64) * stride
        out = np.zeros((a.shape[1], N_VALUES), dtype=np.float32)
        for corner in itertools.product((0, 1), repeat=self.dims):
            weight = None
            offset = 0
            for d, bit in enumerate(corner):
                w = located[d][1] if bit else 1.0 - located[d][1]
                weight = w if weight is None else weight * w
                offset += bit * self._strides[d]
            out += self._flat[base + offset] * weight[:, None]
        return out.T


def ray_moments(photons: np.ndarray, responses: tuple[ChannelResponse, ChannelResponse],
                mu_t: np.ndarray) -> np.ndarray:
    """Signal moments (m1_low, m1_high, m2_low, m2_high) for rays with total attenuation
    mu_t (rays, bins) and incident photons per bin `photons` (bins,). [keV, keV^2]"""
    low, high = responses
    weights = np.stack([photons * low.first_kev, photons * high.first_kev,
                        photons * low.second_kev2, photons * high.second_kev2], axis=1)
    return np.exp(-mu_t) @ weights


def build_table(axes: tuple[SignedSqrtAxis, ...], basis_matrix: np.ndarray,
                photons: np.ndarray, responses: tuple[ChannelResponse, ChannelResponse],
                chunk: int = 8192) -> ResponseTable:
    """Tabulate -ln(moment / open-beam moment) at every node (full spectrum, exact)."""
    grids = np.meshgrid(*[ax.values() for ax in axes], indexing="ij")
    nodes = np.stack([g.ravel() for g in grids], axis=1)  # (n, dims)
    flat = ray_moments(photons, responses, np.zeros((1, basis_matrix.shape[0])))[0]
    out = np.empty((nodes.shape[0], N_VALUES), dtype=np.float64)
    for start in range(0, nodes.shape[0], chunk):
        mu_t = nodes[start:start + chunk] @ basis_matrix.T
        # a node outside the minerals' cone (negative mu t at some energy) is unphysical but
        # continues the smooth function that thin rays next to it interpolate: keep it, only
        # guard exp() against overflow
        np.maximum(mu_t, -MAX_ATTENUATION, out=mu_t)
        moments = ray_moments(photons, responses, mu_t)
        with np.errstate(divide="ignore"):
            out[start:start + chunk] = -np.log(moments / flat)
    np.clip(out, -MAX_ATTENUATION, MAX_ATTENUATION, out=out)
    shape = (*[ax.size for ax in axes], N_VALUES)
    return ResponseTable(axes, out.reshape(shape).astype(np.float32))
