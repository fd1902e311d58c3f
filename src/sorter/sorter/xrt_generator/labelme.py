"""Labelme-annotated images (polygons, rectangles, circles) imported into the dataset format
(dataset_format.py): the image as annotated, instance and class maps, dataset.json and
particles.csv (physical fields empty).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sorter.xrt_generator.dataset_format import (
    coco_annotation,
    mask_bbox,
    track_progress,
    write_png,
    write_tables,
)


def _labelme_image(doc: Mapping[str, Any], json_path: Path) -> np.ndarray:
    data = doc.get("imageData")
    if data:
        raw = np.frombuffer(base64.b64decode(data), dtype=np.uint8)
    else:
        image_path = json_path.parent / str(doc.get("imagePath", ""))
        if not image_path.is_file():
            raise ValueError(f"{json_path}: no imageData and no image at {image_path}")
        raw = np.fromfile(image_path, dtype=np.uint8)
    image = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"{json_path}: the image cannot be decoded")
    return image


def _shape_mask(shape: Mapping[str, Any], size: tuple[int, int]) -> np.ndarray | None:
    points = np.asarray(shape.get("points", []), dtype=np.float64)
    kind = shape.get("shape_type") or "polygon"
    mask = np.zeros(size, dtype=np.uint8)
    if kind == "polygon" and len(points) >= 3:
        cv2.fillPoly(mask, [np.rint(points).astype(np.int32)], 1)
    elif kind == "rectangle" and len(points) == 2:
        (x0, y0), (x1, y1) = np.rint(points).astype(int)
        cv2.rectangle(mask, (min(x0, x1), min(y0, y1)), (max(x0, x1), max(y0, y1)), 1, -1)
    elif kind == "circle" and len(points) == 2:
        centre = np.rint(points[0]).astype(int)
        radius = int(round(float(np.hypot(*(points[1] - points[0])))))
        cv2.circle(mask, (int(centre[0]), int(centre[1])), radius, 1, -1)
    else:
        return None
    return mask.astype(bool)


def import_labelme(json_paths: Sequence[str | Path], out_dir: str | Path,
                   labels: Sequence[str] | None = None, progress: bool = True) -> Path:
    """Convert Labelme JSON files (polygons, rectangles, circles; image embedded or beside the
    JSON) into the dataset format. Category ids follow `labels` (default: sorted labels found),
    numbered from 1; 0 is the background."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    docs = []
    for path in map(Path, json_paths):
        try:
            docs.append((path, json.loads(path.read_text())))
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"cannot read Labelme file {path}: {err}") from err
    found = sorted({str(s.get("label", "")) for _, d in docs for s in d.get("shapes", [])})
    names = list(labels) if labels else found
    unknown = [n for n in found if n not in names]
    if unknown:
        raise ValueError(f"labels {unknown} are not among the categories {names}")
    if len(names) > 255:
        raise ValueError("more than 255 categories do not fit classes.png")
    category = {n: i + 1 for i, n in enumerate(names)}
    images, annotations, rows = [], [], []
    skipped = 0
    next_annotation = 1
    for index, (path, doc) in enumerate(track_progress(docs, len(docs), "images", progress)):
        image = _labelme_image(doc, path)
        height, width = image.shape[:2]
        name = f"{index:05d}_{path.stem}"
        folder = out / "scenes" / name
        write_png(folder / "image.png", image)
        instances = np.zeros((height, width), dtype=np.uint16)
        classes = np.zeros((height, width), dtype=np.uint8)
        image_id = index + 1
        instance = 0
        for shape in doc.get("shapes", []):
            mask = _shape_mask(shape, (height, width))
            if mask is None or not mask.any():
                skipped += 1
                continue
            instance += 1
            label = str(shape.get("label", ""))
            instances[mask] = instance
            classes[mask] = category[label]
            bbox = mask_bbox(mask)
            rr, cc = np.nonzero(mask)
            row = {"scene": name, "instance": instance, "annotation_id": next_annotation,
                   "source": "labelme", "category": category[label], "kind": label,
                   "area_px": int(mask.sum()), "bbox_x": bbox[0], "bbox_y": bbox[1],
                   "bbox_w": bbox[2], "bbox_h": bbox[3], "centroid_x": float(cc.mean()),
                   "centroid_y": float(rr.mean())}
            rows.append(row)
            annotations.append(coco_annotation(row, image_id, mask, {
                "source": "labelme", "label": label, "group_id": shape.get("group_id")}))
            next_annotation += 1
        for k in range(1, instance + 1):  # visible pixels once every shape is painted
            rows[-instance + k - 1]["visible_px"] = int((instances == k).sum())
        write_png(folder / "instances.png", instances)
        write_png(folder / "classes.png", classes)
        images.append({"id": image_id, "file_name": f"scenes/{name}/image.png",
                       "width": width, "height": height, "scene": name, "source": "labelme",
                       "original": str(doc.get("imagePath", path.name))})
    categories = [{"id": i, "name": n} for n, i in category.items()]
    info = {"description": "Labelme-annotated images", "files": len(docs),
            "skipped_shapes": skipped}
    write_tables(out, images, annotations, categories, rows, info)
    return out
