"""The dataset format on disk, shared by synthetic datasets (dataset.py) and Labelme imports
(labelme.py): the documentation written into every dataset as FORMAT.md, the COCO-style
dataset.json and particles.csv writers, and the mask helpers they use.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

FORMAT_VERSION = 1
FORMAT = """\
# sorter X-ray dataset, format version {version}

One folder per dataset:

    FORMAT.md            this file
    dataset.json         COCO-style: info, categories, images, annotations
    particles.csv        one row per particle (annotation), ground truth in SI units
    cell.yaml            the cell description the scenes were made with (synthetic only)
    references.png       uint16, 4 x pixels: dark low, dark high, flat low, flat high (raw
                         counts, each the mean of 1,000 lines); synthetic only
    scenes/<scene>/      one folder per image

Per synthetic scene (rows = lines along belt travel, columns = pixels across the belt):

    low.png, high.png    uint16 raw counts of the low / high energy channel, as the detector
                         delivers them (dark offset, pixel gains, noise): correct with
                         ln((flat - dark) / (raw - dark)) using references.png
    instances.png        uint16 instance id of the top-most particle, 0 = belt
    classes.png          uint8 class of the top-most particle: 0 belt, 1 waste, 2 ore,
                         3 host rock (= COCO category ids)
    thickness.tiff       float32 path length through rock [m] (stacked particles add)
    rgb.png              optional 8-bit top-view camera image, same grid (co-registered)

Per imported (Labelme) image:

    image.png            the image as annotated, bit depth and channels unchanged
    instances.png, classes.png   from the polygons (later shapes paint over earlier ones)

dataset.json: COCO `images` (id, file_name = the main image, width, height, plus `scene`,
`source` synthetic|labelme, `pixel_along_m`, `pixel_across_m` where known), `annotations` (id,
image_id, category_id, segmentation = polygons of the FULL footprint, hidden parts of
overlapped particles included, bbox [x, y, w, h] in pixels with x across the belt, area in
pixels, iscrowd 0, `instance` = the value in instances.png, `attributes` = the particle's
ground truth as in particles.csv), `categories`.

particles.csv: scene, instance, annotation_id, source, category, kind, is_ore, mass_kg,
volume_m3, density_kg_m3, assay, grade (assay mass fraction), pay_mineral, pay_mass_kg,
pay_volume_fraction, mass_<mineral>_kg for every mineral of the feed, equivalent_diameter_m
(drawn), area_px, area_m2, visible_px, max_thickness_m, flatness, bbox_x, bbox_y, bbox_w,
bbox_h, centroid_x, centroid_y, placement (free | touching | overlapping), layer,
neighbours (instance ids, ';'-separated). Physical fields are empty for imported images.

Synthetic data is generated, not measured: it is not the real XRT data of the published trials
(docs/references.md).
"""

BASE_COLUMNS = [
    "scene", "instance", "annotation_id", "source", "category", "kind", "is_ore", "mass_kg",
    "volume_m3", "density_kg_m3", "assay", "grade", "pay_mineral", "pay_mass_kg",
    "pay_volume_fraction",
]
TAIL_COLUMNS = [
    "equivalent_diameter_m", "area_px", "area_m2", "visible_px", "max_thickness_m", "flatness",
    "bbox_x", "bbox_y", "bbox_w", "bbox_h", "centroid_x", "centroid_y", "placement", "layer",
    "neighbours",
]


def mask_polygons(mask: np.ndarray) -> list[list[float]]:
    """Outer contours of a mask as COCO polygons [x0, y0, x1, y1, ...] (x across the belt)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for c in contours:
        pts = c.reshape(-1, 2).astype(float)
        if len(pts) >= 3:
            out.append([float(v) for v in pts.ravel()])
        else:  # a one- or two-pixel particle: its pixel square
            x, y = pts[0]
            out.append([x, y, x + 1, y, x + 1, y + 1, x, y + 1])
    return out


def mask_bbox(mask: np.ndarray) -> list[int]:
    """COCO bbox [x, y, w, h] in pixels of a non-empty mask."""
    rows, cols = np.nonzero(mask)
    return [int(cols.min()), int(rows.min()), int(cols.max() - cols.min() + 1),
            int(rows.max() - rows.min() + 1)]


def write_png(path: Path, image: np.ndarray) -> None:
    """cv2.imwrite, creating the folder; OSError when nothing was written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"cannot write {path}")


def track_progress(iterable: Iterable[Any], total: int, label: str, enabled: bool
                   ) -> Iterable[Any]:
    """The items of `iterable`, with a progress bar on the terminal when `enabled`."""
    if not enabled:
        yield from iterable
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn()) as bar:
        task = bar.add_task(label, total=total)
        for item in iterable:
            yield item
            bar.advance(task)


def coco_annotation(row: Mapping[str, Any], image_id: int, mask: np.ndarray,
                    attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The dataset.json annotation of one particle (its particles.csv row and full mask)."""
    return {"id": int(row["annotation_id"]), "image_id": image_id,
            "category_id": int(row["category"]), "segmentation": mask_polygons(mask),
            "area": int(mask.sum()), "bbox": mask_bbox(mask), "iscrowd": 0,
            "instance": int(row["instance"]), "attributes": dict(attributes)}


def write_tables(out: Path, images: list[dict], annotations: list[dict],
                 categories: list[dict], rows: list[dict], info: dict) -> None:
    """dataset.json, particles.csv and FORMAT.md of a dataset folder."""
    coco = {"info": {"format": "sorter-xray", "format_version": FORMAT_VERSION, **info},
            "categories": categories, "images": images, "annotations": annotations}
    (out / "dataset.json").write_text(json.dumps(coco, indent=1))
    columns = list(BASE_COLUMNS)
    extra = sorted({k for r in rows for k in r if k.startswith("mass_") and k != "mass_kg"})
    columns += extra + TAIL_COLUMNS
    with (out / "particles.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: r.get(k, "") for k in columns})
    (out / "FORMAT.md").write_text(FORMAT.format(version=FORMAT_VERSION))


def load_coco(out_dir: str | Path) -> dict[str, Any]:
    """A dataset's dataset.json."""
    return json.loads((Path(out_dir) / "dataset.json").read_text())
