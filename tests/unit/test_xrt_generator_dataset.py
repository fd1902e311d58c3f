"""Datasets on disk: synthetic export (images, masks, table, COCO) consistent with the truth
and deterministic by seed; Labelme import into the same format."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
import yaml

from sorter.xrt_generator.dataset import DatasetSpec, generate_dataset
from sorter.xrt_generator.dataset_format import load_coco
from sorter.xrt_generator.labelme import import_labelme

ROOT = Path(__file__).resolve().parents[2]
CELL = yaml.safe_load((ROOT / "config" / "cell.yaml").read_text())
SPEC = DatasetSpec(scenes=2, seed=5, lines=96, pixels=160, rgb=True)


def read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, path
    return image


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            h.update(f.relative_to(folder).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds")
    generate_dataset(CELL, SPEC, out, progress=False)
    return out


def test_synthetic_export_is_consistent(dataset: Path):
    coco = load_coco(dataset)
    rows = list(csv.DictReader((dataset / "particles.csv").open()))
    assert (dataset / "FORMAT.md").read_text().startswith("# sorter X-ray dataset")
    assert len(coco["images"]) == SPEC.scenes
    assert len(coco["annotations"]) == len(rows) > 10
    assert {c["name"] for c in coco["categories"]} == {"waste", "ore", "host_rock"}
    refs = read(dataset / "references.png")
    assert refs.shape == (4, SPEC.pixels) and refs.dtype == np.uint16
    assert np.all(refs[2:] > refs[:2])  # flat above dark
    pixel_area = CELL["detector"]["pixel_pitch_m"] ** 2
    for image in coco["images"]:
        folder = dataset / "scenes" / image["scene"]
        high, low = read(dataset / image["file_name"]), read(dataset / image["low_file_name"])
        instances, classes = read(folder / "instances.png"), read(folder / "classes.png")
        thickness = tifffile.imread(folder / "thickness.tiff")
        assert high.dtype == low.dtype == instances.dtype == np.uint16
        assert high.shape == classes.shape == thickness.shape == (SPEC.lines, SPEC.pixels)
        assert read(folder / "rgb.png").shape == (SPEC.lines, SPEC.pixels, 3)
        scene_rows = [r for r in rows if r["scene"] == image["scene"]]
        anns = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
        assert len(anns) == len(scene_rows) == instances.max()
        # truth volumes are the thickness map: sum of path lengths times the pixel area
        volume = sum(float(r["volume_m3"]) for r in scene_rows)
        assert thickness.sum(dtype=np.float64) * pixel_area == pytest.approx(volume, rel=1e-4)
        for ann, row in zip(anns, scene_rows, strict=True):
            visible = instances == ann["instance"]
            assert int(row["visible_px"]) == visible.sum() <= ann["area"]
            if visible.any():
                assert np.all(classes[visible] == ann["category_id"])
            assert ann["attributes"]["mass_kg"] == pytest.approx(float(row["mass_kg"]))
            masses = sum(float(v) for k, v in row.items()
                         if k.startswith("mass_") and k != "mass_kg")
            assert masses == pytest.approx(float(row["mass_kg"]), rel=1e-9)
            x, y, w, h = ann["bbox"]
            assert x >= 0 and y >= 0
            assert x + w <= SPEC.pixels and y + h <= SPEC.lines
            if row["kind"] == "ore":
                assert float(row["grade"]) > 0.01  # Cu mass fraction of 5-25 vol% chalcopyrite
        # the raw images show the rock where the truth says it is
        belt = classes == 0
        assert high[~belt].mean() < high[belt].mean() - 1000


def test_synthetic_export_is_deterministic(dataset: Path, tmp_path: Path):
    again = generate_dataset(CELL, SPEC, tmp_path / "again", progress=False)
    assert digest(again) == digest(dataset)


def _png_bytes(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


def test_labelme_import(tmp_path: Path):
    """Two Labelme files as the tool writes them: one with the image embedded (imageData),
    one next to its image (imagePath); polygons and a rectangle."""
    image = np.full((60, 80), 200, np.uint8)
    image[10:30, 10:35] = 60
    (tmp_path / "b.png").write_bytes(_png_bytes(image))
    ore = {"label": "spodumene", "points": [[10, 10], [34, 10], [34, 29], [10, 29]],
           "group_id": None, "shape_type": "polygon", "flags": {}}
    waste = {"label": "gangue", "points": [[50, 35], [70, 38], [65, 55], [48, 50]],
             "group_id": None, "shape_type": "polygon", "flags": {}}
    box = {"label": "gangue", "points": [[40, 5], [55, 15]], "group_id": None,
           "shape_type": "rectangle", "flags": {}}
    line = {"label": "gangue", "points": [[0, 0], [5, 5]], "shape_type": "line"}
    a = {"version": "5.4.1", "flags": {}, "shapes": [ore, waste, line], "imagePath": "a.png",
         "imageData": base64.b64encode(_png_bytes(image)).decode(), "imageHeight": 60,
         "imageWidth": 80}
    b = {"version": "5.4.1", "flags": {}, "shapes": [box], "imagePath": "b.png",
         "imageData": None, "imageHeight": 60, "imageWidth": 80}
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    out = import_labelme([tmp_path / "a.json", tmp_path / "b.json"], tmp_path / "out",
                         progress=False)
    coco = load_coco(out)
    assert [c["name"] for c in coco["categories"]] == ["gangue", "spodumene"]
    assert coco["info"]["skipped_shapes"] == 1  # the line
    assert len(coco["images"]) == 2 and len(coco["annotations"]) == 3
    first = coco["images"][0]
    folder = out / "scenes" / first["scene"]
    assert np.array_equal(read(out / first["file_name"]), image)  # unchanged
    instances, classes = read(folder / "instances.png"), read(folder / "classes.png")
    assert instances.max() == 2 and set(np.unique(classes)) == {0, 1, 2}
    spod = coco["annotations"][0]
    assert spod["category_id"] == 2 and spod["bbox"] == [10, 10, 25, 20]
    assert spod["area"] == 25 * 20 and np.all(classes[10:30, 10:35] == 2)
    rows = list(csv.DictReader((out / "particles.csv").open()))
    assert [r["kind"] for r in rows] == ["spodumene", "gangue", "gangue"]
    assert rows[0]["mass_kg"] == "" and rows[0]["source"] == "labelme"
    rect = coco["annotations"][2]
    assert rect["bbox"] == [40, 5, 16, 11]
    with pytest.raises(ValueError, match="not among the categories"):
        import_labelme([tmp_path / "a.json"], tmp_path / "bad", labels=["gangue"],
                       progress=False)
