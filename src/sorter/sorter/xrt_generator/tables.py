"""Beam hardening, exact and fast: basis materials and a response table.

Any ray through the feed crosses a few minerals; its attenuation at energy E is
sum_m A_m * (mu/rho)_m(E) with A_m the mineral's areal density [kg/m^2]. Over the 20-160 keV
a sorter sees, every mineral's (mu/rho)(E) is a fixed combination of three basis materials to
better than 0.01 % in channel attenuation (the bases are SiO2, Fe and Cu; two bases leave
0.5-1 % errors). So a ray is three numbers, its basis areal densities, and both channels'
signal moments are smooth functions of them, tabulated once with the full spectrum (beam
hardening exact) and interpolated per pixel.

Table coordinates are (amount, composition): the total basis areal density and the fractions
of bases 2 and 3. Physical rays fill a cone in basis space; a box grid over basis densities
would put unphysical corners (negative mu at some energy) next to thin real rays and bias
them by percent, while in (amount, composition) they fill a box. The table holds, per node,
-ln of each moment relative to the open beam DIVIDED BY the amount (an effective mu/rho): it
is finite at zero amount (the thin-ray limit), so thin rays and their R come out right, zero
is exactly the open beam, and the amount axis is uniform in sqrt(amount) (nodes crowd near
zero, where hardening changes fastest). Values: first moments of both channels (the image,
multilinear), second moments (the noise, nearest node: < 2 % on sigma).

`ray_moments` integrated over the spectrum per ray is the independent reference (tests) and
the benchmark's baseline.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from sorter import physics
from sorter.xrt_generator.materials import Material
from sorter.xrt_generator.sandwich_detector import ChannelResponse

DEFAULT_BASES = ("SiO2", "Fe", "Cu")
MAX_ATTENUATION = 40.0  # -ln of a moment ratio is clipped here (e^-40: nothing gets through)
N_VALUES = 4            # -ln m1_low, -ln m1_high, -ln m2_low, -ln m2_high (open beam = 0)
N_EXACT = 2             # the first N_EXACT values (the image) are interpolated multilinearly


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
        """Cell index i (node i .. i+1) and weight of node i+1, for values `a` (float32).
        Linear in s: the table holds attenuation per unit amount, which is smooth in s."""
        s = np.sqrt(np.abs(a))
        np.copysign(s, a, out=s)
        s -= np.float32(self.s_lo)
        s *= np.float32(1.0 / self.step)
        np.clip(s, 0.0, self.size - 1, out=s)
        i = s.astype(np.int32)
        np.minimum(i, self.size - 2, out=i)  # the top node belongs to the last cell
        s -= i
        return i, s


@dataclass(frozen=True)
class UniformAxis:
    """Table axis with uniform nodes over [lo, hi] (a composition fraction)."""

    lo: float
    hi: float
    nodes: int

    def __post_init__(self) -> None:
        if not (self.hi > self.lo and self.nodes >= 2):
            raise ValueError(f"axis needs hi > lo and >= 2 nodes, got {self}")

    @property
    def size(self) -> int:
        return self.nodes

    def values(self) -> np.ndarray:
        return np.linspace(self.lo, self.hi, self.nodes)

    def locate(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = f - np.float32(self.lo)
        x *= np.float32((self.nodes - 1) / (self.hi - self.lo))
        np.clip(x, 0.0, self.nodes - 1, out=x)
        i = x.astype(np.int32)
        np.minimum(i, self.nodes - 2, out=i)
        x -= i
        return i, x


def to_coordinates(basis_kg_m2: np.ndarray) -> np.ndarray:
    """Table coordinates of rays: total basis areal density, then the fractions of bases 2..n.
    Physical rays fill a cone in basis space; in (amount, composition) they fill a box, so
    no table cell mixes a real ray with an unphysical corner (negative mu at some energy)."""
    a = np.asarray(basis_kg_m2, dtype=np.float32)
    total = a.sum(axis=0)
    safe = np.where(total > 0.0, total, np.float32(1.0))
    out = np.empty_like(a)
    out[0] = total
    np.divide(a[1:], safe, out=out[1:])
    return out


def from_coordinates(coordinates: np.ndarray) -> np.ndarray:
    """Inverse of to_coordinates (float64), for building the table."""
    c = np.asarray(coordinates, dtype=np.float64)
    total, fractions = c[0], c[1:]
    return np.concatenate([(total * (1.0 - fractions.sum(axis=0)))[None], total * fractions])


@dataclass
class ResponseTable:
    """-ln moment ratios on a basis-areal-density grid; one multilinear lookup per pixel."""

    axes: tuple[SignedSqrtAxis | UniformAxis, ...]  # amount, then composition fractions
    values: np.ndarray  # (*axis sizes, N_VALUES) float32

    def __post_init__(self) -> None:
        sizes = tuple(ax.size for ax in self.axes)
        if self.values.shape != (*sizes, N_VALUES):
            raise ValueError(f"table shape {self.values.shape} != {(*sizes, N_VALUES)}")
        flat = self.values.reshape(-1, N_VALUES)
        self._columns = [np.ascontiguousarray(flat[:, v], np.float32) for v in range(N_VALUES)]
        strides = np.cumprod((1, *sizes[::-1]))[:-1][::-1]
        self._strides = tuple(int(s) for s in strides)

    @property
    def dims(self) -> int:
        return len(self.axes)

    def lookup(self, basis_kg_m2: np.ndarray) -> np.ndarray:
        """(N_VALUES, n) interpolated -ln moment ratios for basis areal densities (dims, n).

        Multilinear over the 2^dims corners of each pixel's cell; every value is gathered
        from its own contiguous 1-D array (np.take), which is several times faster than
        gathering rows of a (nodes, 4) array.
        """
        a = np.asarray(basis_kg_m2, dtype=np.float32)
        if a.ndim != 2 or a.shape[0] != self.dims:
            raise ValueError(f"basis areal densities must be ({self.dims}, n), got {a.shape}")
        coords = to_coordinates(a)
        located = [ax.locate(coords[d]) for d, ax in enumerate(self.axes)]
        base = located[0][0].astype(np.intp) * self._strides[0]
        for (i, _), stride in zip(located[1:], self._strides[1:], strict=True):
            base += i.astype(np.intp) * stride
        corners = []
        for corner in itertools.product((0, 1), repeat=self.dims):
            weight = None
            offset = 0
            for d, bit in enumerate(corner):
                w = located[d][1] if bit else 1.0 - located[d][1]
                weight = w if weight is None else weight * w
                offset += bit * self._strides[d]
            assert weight is not None  # a table has at least one axis
            corners.append((base + offset if offset else base, weight))
        out = np.empty((N_VALUES, a.shape[1]), dtype=np.float32)
        tmp = np.empty(a.shape[1], dtype=np.float32)
        for v in range(N_EXACT):
            column = self._columns[v]
            acc = out[v]
            np.take(column, corners[0][0], out=acc)
            acc *= corners[0][1]
            for index, weight in corners[1:]:
                np.take(column, index, out=tmp)
                tmp *= weight
                acc += tmp
        # noise moments: the nearest node is enough (their error moves sigma by < 2 %)
        nearest = base
        for d, (_, w) in enumerate(located):
            nearest = nearest + (w >= 0.5) * self._strides[d]
        for v in range(N_EXACT, N_VALUES):
            np.take(self._columns[v], nearest, out=out[v])
        out *= coords[0]  # the table holds attenuation per unit amount
        return out


def ray_moments(photons: np.ndarray, responses: tuple[ChannelResponse, ChannelResponse],
                mu_t: np.ndarray) -> np.ndarray:
    """Signal moments (m1_low, m1_high, m2_low, m2_high) for rays with total attenuation
    mu_t (rays, bins) and incident photons per bin `photons` (bins,). [keV, keV^2]"""
    low, high = responses
    weights = np.stack([photons * low.first_kev, photons * high.first_kev,
                        photons * low.second_kev2, photons * high.second_kev2], axis=1)
    return np.exp(-mu_t) @ weights


def build_table(axes: tuple[SignedSqrtAxis | UniformAxis, ...], basis_matrix: np.ndarray,
                photons: np.ndarray, responses: tuple[ChannelResponse, ChannelResponse],
                chunk: int = 8192) -> ResponseTable:
    """Tabulate -ln(moment / open-beam moment) at every node (full spectrum, exact)."""
    grids = np.meshgrid(*[ax.values() for ax in axes], indexing="ij")
    nodes = from_coordinates(np.stack([g.ravel() for g in grids])).T  # (n, dims) bases
    flat = ray_moments(photons, responses, np.zeros((1, basis_matrix.shape[0])))[0]
    out = np.empty((nodes.shape[0], N_VALUES), dtype=np.float64)
    amount = grids[0].ravel()
    # at zero amount the value is the thin-ray limit d(-ln m)/dt = the signal-weighted mean
    # mu of the composition; it is evaluated just above zero, where -ln m / t has converged
    thin = amount == 0.0
    nodes[thin] = from_coordinates(np.stack(
        [np.full(thin.sum(), 1e-6)] + [g.ravel()[thin] for g in grids[1:]])).T
    amount = np.where(thin, 1e-6, amount)
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
    out /= amount[:, None]
    shape = (*[ax.size for ax in axes], N_VALUES)
    return ResponseTable(axes, out.reshape(shape).astype(np.float32))
