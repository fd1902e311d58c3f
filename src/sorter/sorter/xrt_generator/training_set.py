"""Training sets on disk: domain-randomised scenes (training_scenes.py) in the dataset format
(dataset_format.py), plus the segmentation labels and what every scene was drawn with.

Besides the dataset format's files (dataset.json, particles.csv, FORMAT.md and per scene
low.png, high.png, instances.png, classes.png) a training set has, documented in TRAINING.md:
per scene references.png (each scene has its own detector setting) and labels.png, and
scenes.csv and instances.csv. No ROS import.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sorter.xrt_generator.dataset import CATEGORIES, particle_rows
from sorter.xrt_generator.dataset_format import (
    coco_annotation,
    track_progress,
    write_png,
    write_tables,
)
from sorter.xrt_generator.training_scenes import (
    DomainRandomisation,
    TrainingScene,
    TrainingSceneGenerator,
    contacts,
)

TRAINING = """\
# sorter X-ray training set

Domain-randomised scenes (`sorter xray training-set`): every scene draws its pixel pitch,
belt speed (line period, so photons per pixel), tube current, gain spread, crosstalk, belt
thickness, feed (copper or spodumene), flatness, sizes, ore share, coverage and shares of
touching and stacked particles; scenes.csv lists the draws. FORMAT.md describes the files a
training set shares with the other datasets; in addition, per scene:

    references.png   uint16, 4 x pixels: dark low, dark high, flat low, flat high of this
                     scene's detector setting (mean of 256 lines)
    labels.png       uint8 at the image's pixel centres: 0 belt, 1 particle interior,
                     2 boundary (1-px inner 4-neighbour contour of each visible instance),
                     3 overlap (two or more footprints; takes precedence over 2)

instances.png holds the top-most particle where particles are stacked. Stacked paths add in
the raw images (basis areal densities are summed), never overwrite.

scenes.csv: scene, then every drawn parameter (SI units) and photons_scale (photons per pixel
relative to the cell description's setting).

instances.csv: scene, instance (the value in instances.png), area_px (full footprint),
visible_px, touching (another footprint 4-adjacent, not overlapping), overlapped (shares a
pixel with another footprint), lithology, kind, mass_kg, layer.

Generated data, not measured data.
"""

INSTANCE_COLUMNS = ["scene", "instance", "area_px", "visible_px", "touching", "overlapped",
                    "lithology", "kind", "mass_kg", "layer"]


def instance_rows(ts: TrainingScene, name: str) -> list[dict[str, Any]]:
    """Per-instance truth rows of a training scene (placement order = instance id)."""
    touching, overlapped = contacts(ts.scene)
    visible = np.bincount(ts.instances.ravel(), minlength=len(ts.scene.particles) + 1)
    rows = []
    for k, placed in enumerate(ts.scene.particles):
        part = placed.particle
        rows.append({"scene": name, "instance": k + 1, "area_px": int(part.footprint.sum()),
                     "visible_px": int(visible[k + 1]), "touching": int(touching[k]),
                     "overlapped": int(overlapped[k]), "lithology": ts.params.lithology,
                     "kind": part.spec.kind, "mass_kg": part.mass_kg, "layer": placed.layer})
    return rows


def _write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: r.get(k, "") for k in columns})


def write_training_set(cell: Mapping[str, Any], randomisation: DomainRandomisation,
                       out_dir: str | Path, scenes: int, seed: int = 0, lines: int = 256,
                       pixels: int = 256, progress: bool = True) -> Path:
    """Write `scenes` domain-randomised scenes to `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gen = TrainingSceneGenerator(cell, randomisation, lines, pixels, seed)
    body = {k: v for k, v in cell.items() if not str(k).startswith("_")}
    (out / "cell.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    images: list[dict] = []
    annotations: list[dict] = []
    rows: list[dict] = []
    scene_rows: list[dict] = []
    inst_rows: list[dict] = []
    next_annotation = 1
    for index in track_progress(range(scenes), scenes, "training scenes", progress):
        name = f"{index:05d}"
        ts = gen.scene(index)
        folder = out / "scenes" / name
        write_png(folder / "low.png", ts.low)
        write_png(folder / "high.png", ts.high)
        write_png(folder / "references.png", ts.references)
        write_png(folder / "instances.png", ts.instances)
        write_png(folder / "classes.png", ts.scene.classes)
        write_png(folder / "labels.png", ts.labels)
        image_id = index + 1
        images.append({"id": image_id, "file_name": f"scenes/{name}/high.png",
                       "low_file_name": f"scenes/{name}/low.png", "width": pixels,
                       "height": lines, "scene": name, "source": "synthetic",
                       "pixel_along_m": ts.params.pitch_along_m,
                       "pixel_across_m": ts.params.pitch_across_m})
        truth = particle_rows(ts.scene, name, ts.feed, next_annotation)
        for placed, row in zip(ts.scene.particles, truth, strict=True):
            attributes = {k: v for k, v in row.items()
                          if k not in ("scene", "instance", "annotation_id", "category")}
            annotations.append(coco_annotation(row, image_id, ts.scene.mask(placed),
                                               attributes))
        rows += truth
        next_annotation += len(truth)
        scene_rows.append({"scene": name, **ts.params.row(), "photons_scale": ts.photons_scale})
        inst_rows += instance_rows(ts, name)
    info = {"description": f"domain-randomised synthetic dual-energy XRT scenes on the "
                           f"detector of {cell['cell']['name']}",
            "seed": seed, "scenes": scenes, "generated": "not measured data"}
    write_tables(out, images, annotations, CATEGORIES, rows, info)
    if scene_rows:
        _write_csv(out / "scenes.csv", scene_rows, list(scene_rows[0]))
    _write_csv(out / "instances.csv", inst_rows, INSTANCE_COLUMNS)
    (out / "TRAINING.md").write_text(TRAINING)
    return out
