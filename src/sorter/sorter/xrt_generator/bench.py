"""`sorter xray bench`: rendering speed against real time, and against direct integration.

The frame is the one the renderer design was first timed on (4.2-4.4 Mpx/s per channel, one
core of the 2-core development VM, ~1,800 particles): a 1.2 m belt at 0.8 mm pixels (1,500
pixels across) and 2,000 lines, covered by the cell's feed. Real time for that belt at 3 m/s
is 1,500 px x 3,750 lines/s = 5.6 Mpx/s per channel. Timed on this process's one thread (numpy
element-wise work; no BLAS in the timed paths), best of `repeats`:

- frame render: paste the particles' basis maps, table lookup of the rock pixels, compound-
  Poisson noise, crosstalk, gains, dark, 16-bit: Mpx/s per channel = frame pixels / time
  (each pixel yields both channels);
- table lookup alone, over the frame's rock pixels;
- direct spectral integration (the validation tests' reference) of a sample of rock pixels,
  per pixel every energy bin: the baseline the table replaces, in the same run.

Drawing and rasterising the particles is reported separately: a simulator does it once per
particle when it spawns, not per frame.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sorter.xrt_generator.dataset import DatasetSpec, SceneGenerator
from sorter.xrt_generator.scene import paste_basis

REAL_TIME_BELT_M = 1.2
REAL_TIME_SPEED_M_S = 3.0
REAL_TIME_PITCH_M = 0.0008


@dataclass
class BenchResult:
    frame_lines: int
    frame_pixels: int
    particles: int
    rock_fraction: float
    compose_s: float                 # draw + rasterise all particles (once per particle)
    render_s: float                  # per frame, best of repeats
    render_mpx_s: float              # per channel
    lookup_mpx_s: float              # table lookup alone, rock pixels per second
    direct_mpx_s: float              # direct spectral integration, rock pixels per second
    table_vs_direct: float           # lookup speed / direct speed
    frame_vs_direct: float           # frame render speed / direct-integration frame speed
    real_time_mpx_s: float
    real_time_factor: float          # render_mpx_s / real_time_mpx_s
    energy_bins: int
    table_nodes: int
    load_average: tuple[float, float, float]
    machine: str


def real_time_mpx_s(belt_m: float = REAL_TIME_BELT_M, speed_m_s: float = REAL_TIME_SPEED_M_S,
                    pitch_m: float = REAL_TIME_PITCH_M) -> float:
    """Pixels per second per channel of a line scan keeping up with the belt [Mpx/s]."""
    return (belt_m / pitch_m) * (speed_m_s / pitch_m) / 1e6


def _best(fn: Any, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def direct_single_thread(model: Any, basis: np.ndarray) -> np.ndarray:
    """-ln moment ratios (4, n) by direct integration, element-wise numpy only (one core, as
    the renderer): mu t per bin from the basis, exp, weighted sums over bins."""
    matrix = model.basis.matrix
    low, high = model.responses
    weights = [model.photons * w for w in (low.first_kev, high.first_kev, low.second_kev2,
                                            high.second_kev2)]
    out = np.empty((4, basis.shape[1]))
    for start in range(0, basis.shape[1], 2048):
        a = basis[:, start:start + 2048].astype(np.float64)
        mu_t = a[0][:, None] * matrix[None, :, 0]
        for b in range(1, a.shape[0]):
            mu_t += a[b][:, None] * matrix[None, :, b]
        np.exp(-mu_t, out=mu_t)
        for k, w in enumerate(weights):
            out[k, start:start + 2048] = (mu_t * w).sum(axis=1)
    return -np.log(out / model.flat_moments[:, None])


def run_bench(cell: Mapping[str, Any], lines: int = 2000, pixels: int = 1500,
              coverage: float = 0.25, repeats: int = 3, direct_sample: int = 20000,
              seed: int = 1) -> BenchResult:
    import cv2

    cv2.setNumThreads(1)  # the crosstalk filter: keep the whole render on one thread
    spec = DatasetSpec(scenes=1, seed=seed, lines=lines, pixels=pixels, coverage=coverage)
    gen = SceneGenerator(cell, spec)
    start = time.perf_counter()
    scene, _, _ = gen.scene(0)
    compose_s = time.perf_counter() - start
    renderer = gen.renderer(0)
    dims = gen.model.table.dims

    def frame() -> None:
        renderer.render(paste_basis((lines, pixels), scene.particles, dims))

    render_s = _best(frame, repeats)
    rays = scene.basis_kg_m2.reshape(dims, -1)
    rock = rays[:, np.abs(rays).sum(axis=0) > 0]
    lookup_s = _best(lambda: gen.model.table_attenuation(rock), repeats)
    sample = rock[:, np.linspace(0, rock.shape[1] - 1, min(direct_sample, rock.shape[1]))
                  .astype(int)]
    direct_s = _best(lambda: direct_single_thread(gen.model, sample), max(1, repeats - 1))
    n_px = lines * pixels
    rock_fraction = rock.shape[1] / n_px
    direct_rate = sample.shape[1] / direct_s
    # a direct-integration frame: the rock pixels integrated, the belt pixels free
    direct_frame_s = rock.shape[1] / direct_rate
    render_mpx = n_px / render_s / 1e6
    rt = real_time_mpx_s()
    return BenchResult(
        frame_lines=lines, frame_pixels=pixels, particles=len(scene.particles),
        rock_fraction=rock_fraction, compose_s=compose_s, render_s=render_s,
        render_mpx_s=render_mpx, lookup_mpx_s=rock.shape[1] / lookup_s / 1e6,
        direct_mpx_s=direct_rate / 1e6,
        table_vs_direct=(rock.shape[1] / lookup_s) / direct_rate,
        frame_vs_direct=direct_frame_s / render_s,
        real_time_mpx_s=rt, real_time_factor=render_mpx / rt,
        energy_bins=int(gen.model.spectrum.energies_kev.size),
        table_nodes=int(np.prod([ax.size for ax in gen.model.table.axes])),
        load_average=os.getloadavg(),
        machine=f"{platform.machine()}, {os.cpu_count()} cores, Python "
                f"{platform.python_version()}, numpy {np.__version__}",
    )


def format_bench(r: BenchResult) -> str:
    verdict = "faster than" if r.real_time_factor >= 1.0 else "slower than"
    return "\n".join([
        f"frame {r.frame_lines} lines x {r.frame_pixels} px, {r.particles} particles "
        f"({100 * r.rock_fraction:.0f} % of pixels rock); {r.energy_bins} energy bins, "
        f"table {r.table_nodes} nodes",
        f"frame render (paste + lookup + noise + 16-bit): {r.render_s * 1e3:.0f} ms = "
        f"{r.render_mpx_s:.2f} Mpx/s per channel, one thread",
        f"real time, {REAL_TIME_BELT_M} m belt at {REAL_TIME_SPEED_M_S} m/s, "
        f"{REAL_TIME_PITCH_M * 1e3:.1f} mm pixels: {r.real_time_mpx_s:.2f} Mpx/s -> "
        f"{r.real_time_factor:.2f} x ({verdict} real time)",
        f"table lookup alone: {r.lookup_mpx_s:.2f} Mpx/s of rock pixels",
        f"direct spectral integration (baseline, same run): {r.direct_mpx_s:.3f} Mpx/s of "
        f"rock pixels -> table {r.table_vs_direct:.0f} x faster; whole frame "
        f"{r.frame_vs_direct:.1f} x faster",
        f"particles drawn and rasterised once: {r.compose_s:.1f} s for {r.particles}",
        f"machine: {r.machine}; load average {r.load_average[0]:.2f} (shared machine: "
        f"timings vary run to run)",
    ])


def main(cell: Mapping[str, Any], args: Any) -> int:
    result = run_bench(cell, lines=args.lines, pixels=args.pixels, coverage=args.coverage,
                       repeats=args.repeats)
    print(format_bench(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(asdict(result), f, indent=1)
    return 0
