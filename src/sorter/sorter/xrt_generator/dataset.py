"""Synthetic datasets on disk: scenes from the generator, written in the dataset format
(dataset_format.py, also written into every dataset as FORMAT.md).

Synthetic datasets are deterministic by seed: scene i draws from SeedSequence([seed, i]), so
scene 7 is the same whether 10 or 1,000 scenes are made, and the detector (its pixel gains) is
the same for every scene of a dataset, as a real machine's is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import yaml

from sorter.xrt_generator.dataset_format import (
    coco_annotation,
    mask_bbox,
    track_progress,
    write_png,
    write_tables,
)
from sorter.xrt_generator.feed_spec import FeedSpec
from sorter.xrt_generator.materials import Material, MaterialLibrary, library_for_cell
from sorter.xrt_generator.model import XrayModel, XraySetup, build_model
from sorter.xrt_generator.render import (
    LineScanRenderer,
    ReadoutSpec,
    ReferenceKind,
    camera_image,
    noise_generator,
)
from sorter.xrt_generator.scene import CLASS_IDS, Scene, SceneSpec, albedo_map, compose

CATEGORIES = [{"id": i, "name": n} for n, i in sorted(CLASS_IDS.items(), key=lambda x: x[1])]


@dataclass(frozen=True)
class DatasetSpec:
    """How many scenes of what size; the cell gives the physics and the feed."""

    scenes: int
    seed: int
    lines: int = 512
    pixels: int | None = None            # None: the cell's detector pixels
    pitch_along_m: float | None = None   # None: the cell's pixel pitch (encoder lines)
    coverage: float = 0.3
    touching_fraction: float = 0.2
    overlap_fraction: float = 0.05
    size_m: tuple[float, float] | None = None   # a sieve class; None: the feed's
    rgb: bool = False


class SceneGenerator:
    """Scenes and raw images of one cell, deterministic by (seed, scene index)."""

    def __init__(self, cell: Mapping[str, Any], spec: DatasetSpec,
                 library: MaterialLibrary | None = None) -> None:
        self.cell = cell
        self.spec = spec
        self.library = library or library_for_cell(cell)
        self.feed = FeedSpec.from_cell(cell, self.library)
        det = cell["detector"]
        self.pixels = int(spec.pixels or det["pixels"])
        setup = XraySetup.from_cell(cell, spec.pitch_along_m)
        self.model: XrayModel = build_model(setup, [Material.pure(m)
                                                    for m in self.feed.minerals])
        readout = ReadoutSpec.from_cell(cell)
        self.readout = ReadoutSpec(self.pixels, readout.flat_counts, readout.dark_counts,
                                   readout.read_noise_counts, readout.gain_spread,
                                   readout.crosstalk)
        self.scene_spec = SceneSpec(
            lines=spec.lines, pixels=self.pixels, pitch_along_m=setup.pixel_along_m,
            pitch_across_m=setup.pixel_across_m, coverage=spec.coverage,
            touching_fraction=spec.touching_fraction, overlap_fraction=spec.overlap_fraction,
            size_m=spec.size_m)

    def renderer(self, *key: int) -> LineScanRenderer:
        """The dataset's detector (same gains always) with noise seeded by `key`."""
        gains = np.random.default_rng(np.random.SeedSequence([self.spec.seed, 0xD37]))
        noise = noise_generator(np.random.SeedSequence([self.spec.seed, 0x4015, *key]))
        return LineScanRenderer(self.model, self.readout, gains, noise)

    def references(self, lines: int = 1000) -> np.ndarray:
        r = self.renderer(0xFEF)
        dark = r.reference(ReferenceKind.DARK, lines)
        flat = r.reference(ReferenceKind.FLAT, lines)
        return np.vstack([dark[0], dark[1], flat[0], flat[1]])

    def scene(self, index: int) -> tuple[Scene, np.ndarray, np.ndarray]:
        """Scene `index`: the scene and its raw (low, high) uint16 images."""
        rng = np.random.default_rng(np.random.SeedSequence([self.spec.seed, int(index)]))
        scene = compose(self.feed, self.model, self.scene_spec, rng, self.library)
        low, high = self.renderer(int(index)).render(scene.basis_kg_m2)
        return scene, low, high

    def camera(self, scene: Scene, index: int) -> np.ndarray:
        rng = np.random.default_rng(np.random.SeedSequence([self.spec.seed, 0xCA3, index]))
        pitch = math.sqrt(self.scene_spec.pitch_along_m * self.scene_spec.pitch_across_m)
        return camera_image(scene.thickness_m.astype(np.float64), albedo_map(scene), pitch,
                            rng=rng)


def particle_rows(scene: Scene, scene_name: str, feed: FeedSpec, first_annotation: int
                  ) -> list[dict[str, Any]]:
    """Ground-truth rows of a scene's particles (instance ids = 1..n in placement order)."""
    minerals = [m.name for m in feed.minerals]
    rows = []
    pixel_area = scene.spec.pitch_along_m * scene.spec.pitch_across_m
    local = {p.id: k + 1 for k, p in enumerate(scene.particles)}
    for k, placed in enumerate(scene.particles):
        part = placed.particle
        mask = scene.mask(placed)
        bbox = mask_bbox(mask)
        rr, cc = np.nonzero(mask)
        row: dict[str, Any] = {
            "scene": scene_name, "instance": k + 1, "annotation_id": first_annotation + k,
            "source": "synthetic", "category": CLASS_IDS[part.spec.kind],
            "kind": part.spec.kind, "is_ore": int(part.is_ore), "mass_kg": part.mass_kg,
            "volume_m3": part.volume_m3, "density_kg_m3": part.density_kg_m3,
            "assay": feed.assay, "grade": part.grade, "pay_mineral": part.spec.pay.name,
            "pay_mass_kg": part.pay_mass_kg, "pay_volume_fraction": part.pay_volume_fraction,
        }
        for name in minerals:
            row[f"mass_{name}_kg"] = part.mineral_masses_kg.get(name, 0.0)
        row.update({
            "equivalent_diameter_m": part.equivalent_diameter_m,
            "area_px": int(mask.sum()), "area_m2": float(mask.sum()) * pixel_area,
            "visible_px": int((scene.instances == placed.id).sum()),
            "max_thickness_m": part.max_thickness_m, "flatness": part.flatness,
            "bbox_x": bbox[0], "bbox_y": bbox[1], "bbox_w": bbox[2], "bbox_h": bbox[3],
            "centroid_x": float(cc.mean()), "centroid_y": float(rr.mean()),
            "placement": placed.mode, "layer": placed.layer,
            "neighbours": ";".join(str(local[n]) for n in placed.neighbours if n in local),
        })
        rows.append(row)
    return rows


def _instance_map(scene: Scene) -> np.ndarray:
    """instances.png: particle ids renumbered 1..n in placement order (uint16)."""
    lut = {p.id: k + 1 for k, p in enumerate(scene.particles)}
    if len(lut) > 65535:
        raise ValueError("more than 65,535 particles in one scene")
    out = np.zeros(scene.instances.shape, dtype=np.uint16)
    for pid, k in lut.items():
        out[scene.instances == pid] = k
    return out


def generate_dataset(cell: Mapping[str, Any], spec: DatasetSpec, out_dir: str | Path,
                     progress: bool = True) -> Path:
    """Write `spec.scenes` synthetic scenes of the cell's feed to `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gen = SceneGenerator(cell, spec)
    write_png(out / "references.png", gen.references())
    body = {k: v for k, v in cell.items() if not str(k).startswith("_")}
    (out / "cell.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    images, annotations, rows = [], [], []
    next_annotation = 1
    for index in track_progress(range(spec.scenes), spec.scenes, "scenes", progress):
        name = f"{index:05d}"
        scene, low, high = gen.scene(index)
        folder = out / "scenes" / name
        write_png(folder / "low.png", low)
        write_png(folder / "high.png", high)
        write_png(folder / "instances.png", _instance_map(scene))
        write_png(folder / "classes.png", scene.classes)
        tifffile.imwrite(folder / "thickness.tiff", scene.thickness_m.astype(np.float32))
        if spec.rgb:
            write_png(folder / "rgb.png", gen.camera(scene, index)[..., ::-1])
        image_id = index + 1
        images.append({"id": image_id, "file_name": f"scenes/{name}/high.png",
                       "low_file_name": f"scenes/{name}/low.png", "width": gen.pixels,
                       "height": spec.lines, "scene": name, "source": "synthetic",
                       "pixel_along_m": gen.scene_spec.pitch_along_m,
                       "pixel_across_m": gen.scene_spec.pitch_across_m})
        scene_rows = particle_rows(scene, name, gen.feed, next_annotation)
        for placed, row in zip(scene.particles, scene_rows, strict=True):
            attributes = {k: v for k, v in row.items()
                          if k not in ("scene", "instance", "annotation_id", "category")}
            annotations.append(coco_annotation(row, image_id, scene.mask(placed), attributes))
        rows += scene_rows
        next_annotation += len(scene_rows)
    info = {"description": f"synthetic dual-energy XRT scenes of {cell['cell']['name']}",
            "seed": spec.seed, "scenes": spec.scenes, "generated": "not measured data"}
    write_tables(out, images, annotations, CATEGORIES, rows, info)
    return out
