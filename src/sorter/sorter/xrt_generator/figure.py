"""`sorter xray figure`: low, high, R and mask side by side for a copper and a lithium scene.

Each row is one cell description's scene, rendered raw and corrected with the detector's own
dark and flat references exactly as the acquisition node does: a_L, a_H = ln(I0/I), then
R = a_L / a_H on the truth footprints (where a_H exceeds the segmentation threshold), the
truth class map, and the
top-view camera image of the same scene. Generated data, labelled as such on the figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sorter.xrt_generator.dataset import DatasetSpec, SceneGenerator
from sorter.xrt_generator.render import corrected_attenuation

R_RANGE = (1.6, 2.8)


def scene_panels(cell: Mapping[str, Any], seed: int, lines: int) -> dict[str, Any]:
    gen = SceneGenerator(cell, DatasetSpec(scenes=1, seed=seed, lines=lines, coverage=0.3,
                                           touching_fraction=0.25, overlap_fraction=0.05))
    ref = gen.references()
    scene, low, high = gen.scene(0)
    a_low = corrected_attenuation(low, ref[0], ref[2])
    a_high = corrected_attenuation(high, ref[1], ref[3])
    threshold = float(cell["segmentation"]["attenuation_threshold"])
    rock = (scene.classes > 0) & (a_high > threshold)
    ratio = np.where(rock, a_low / np.maximum(a_high, 1e-6), np.nan)
    kinds = {k: sum(p.particle.spec.kind == k for p in scene.particles)
             for k in ("ore", "waste", "host_rock")}
    return {"low": a_low, "high": a_high, "ratio": ratio, "classes": scene.classes,
            "rgb": gen.camera(scene, 0), "kinds": kinds, "feed": gen.feed,
            "pitch_mm": gen.scene_spec.pitch_across_m * 1e3}


def make_figure(cells: Sequence[Mapping[str, Any]], out: str | Path, seed: int = 4,
                lines: int = 320) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    out = Path(out)
    class_cmap = ListedColormap(["#202020", "#7f7f7f", "#e8a33d", "#3d6fe8"])
    fig, axes = plt.subplots(len(cells), 5, figsize=(24, 4.2 * len(cells)), squeeze=False,
                             layout="constrained")
    for row, cell in enumerate(cells):
        p = scene_panels(cell, seed, lines)
        feed = p["feed"]
        title = (f"{cell['cell']['name']}: {feed.pay_mineral.name} in {feed.gangue.name}"
                 + (f" + {feed.host_rock.name}" if feed.host_rock is not None else ""))
        ax = axes[row]
        im = ax[0].imshow(p["low"], cmap="gray", vmin=0, vmax=3.0)
        ax[0].set_title(f"{title}\nlow: a_L = ln(I0/I)", fontsize=10)
        fig.colorbar(im, ax=ax[0], shrink=0.8)
        im = ax[1].imshow(p["high"], cmap="gray", vmin=0, vmax=1.5)
        ax[1].set_title("high: a_H = ln(I0/I)", fontsize=10)
        fig.colorbar(im, ax=ax[1], shrink=0.8)
        im = ax[2].imshow(p["ratio"], cmap="viridis", vmin=R_RANGE[0], vmax=R_RANGE[1])
        ax[2].set_title("R = a_L / a_H on the rock", fontsize=10)
        fig.colorbar(im, ax=ax[2], shrink=0.8)
        ax[3].imshow(p["classes"], cmap=class_cmap, vmin=0, vmax=3, interpolation="nearest")
        k = p["kinds"]
        ax[3].set_title(f"mask (truth): ore {k['ore']} orange, waste {k['waste']} grey, "
                        f"host rock {k['host_rock']} blue", fontsize=10)
        ax[4].imshow(p["rgb"])
        ax[4].set_title("top-view camera, same scene", fontsize=10)
        for a in ax:
            a.set_xlabel(f"pixel across ({p['pitch_mm']:.1f} mm)", fontsize=8)
            a.set_ylabel("line (belt travel)", fontsize=8)
            a.tick_params(labelsize=7)
    fig.suptitle("Generated dual-energy XRT scenes (sorter.xrt_generator: spekpy + xraylib "
                 "physics; not measured data)", fontsize=13)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out
