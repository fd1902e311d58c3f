"""Datasets on disk: synthetic scenes from the generator, and Labelme-annotated real images,
in one documented format (FORMAT below, also written into every dataset as FORMAT.md).

Synthetic datasets are deterministic by seed: scene i draws from SeedSequence([seed, i]), so
scene 7 is the same whether 10 or 1,000 scenes are made, and the detector (its pixel gains) is
the same for every scene of a dataset, as a real machine's is.
"""

from __future__ import annotations

import base64
import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tifffile
import yaml

from sorter.xrt_generator.materials import Material, MaterialLibrary, library_for_cell
from sorter.xrt_generator.model import XrayModel, XraySetup, build_model
from sorter.xrt_generator.particle_model import FeedSpec
from sorter.xrt_generator.render import (
    LineScanRenderer,
    ReadoutSpec,
    ReferenceKind,
    camera_image,
    noise_generator,
)
from sorter.xrt_generator.scene import CLASS_IDS, Scene, SceneSpec, albedo_map, compose

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

Synthetic data is generated, not measured: it is not the seed papers' real XRT data.
"""

CATEGORIES = [{"id": i, "name": n} for n, i in sorted(CLASS_IDS.items(), key=lambda x: x[1])]
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


def _polygons(mask: np.ndarray) -> list[list[float]]:
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


def _bbox(mask: np.ndarray) -> list[int]:
    rows, cols = np.nonzero(mask)
    return [int(cols.min()), int(rows.min()), int(cols.max() - cols.min() + 1),
            int(rows.max() - rows.min() + 1)]


def _write_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"cannot write {path}")


def _progress(iterable: Iterable[Any], total: int, label: str, enabled: bool) -> Iterable[Any]:
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
        bbox = _bbox(mask)
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


def _annotation(row: Mapping[str, Any], image_id: int, mask: np.ndarray,
                attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": int(row["annotation_id"]), "image_id": image_id,
            "category_id": int(row["category"]), "segmentation": _polygons(mask),
            "area": int(mask.sum()), "bbox": _bbox(mask), "iscrowd": 0,
            "instance": int(row["instance"]), "attributes": dict(attributes)}


def _write_tables(out: Path, images: list[dict], annotations: list[dict],
                  categories: list[dict], rows: list[dict], info: dict) -> None:
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


def generate_dataset(cell: Mapping[str, Any], spec: DatasetSpec, out_dir: str | Path,
                     progress: bool = True) -> Path:
    """Write `spec.scenes` synthetic scenes of the cell's feed to `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gen = SceneGenerator(cell, spec)
    _write_png(out / "references.png", gen.references())
    body = {k: v for k, v in cell.items() if not str(k).startswith("_")}
    (out / "cell.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    images, annotations, rows = [], [], []
    next_annotation = 1
    for index in _progress(range(spec.scenes), spec.scenes, "scenes", progress):
        name = f"{index:05d}"
        scene, low, high = gen.scene(index)
        folder = out / "scenes" / name
        _write_png(folder / "low.png", low)
        _write_png(folder / "high.png", high)
        _write_png(folder / "instances.png", _instance_map(scene))
        _write_png(folder / "classes.png", scene.classes)
        tifffile.imwrite(folder / "thickness.tiff", scene.thickness_m.astype(np.float32))
        if spec.rgb:
            _write_png(folder / "rgb.png", gen.camera(scene, index)[..., ::-1])
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
            annotations.append(_annotation(row, image_id, scene.mask(placed), attributes))
        rows += scene_rows
        next_annotation += len(scene_rows)
    info = {"description": f"synthetic dual-energy XRT scenes of {cell['cell']['name']}",
            "seed": spec.seed, "scenes": spec.scenes, "generated": "not measured data"}
    _write_tables(out, images, annotations, CATEGORIES, rows, info)
    return out


# -- Labelme ------------------------------------------------------------------------------

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
    for index, (path, doc) in enumerate(_progress(docs, len(docs), "images", progress)):
        image = _labelme_image(doc, path)
        height, width = image.shape[:2]
        name = f"{index:05d}_{path.stem}"
        folder = out / "scenes" / name
        _write_png(folder / "image.png", image)
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
            bbox = _bbox(mask)
            rr, cc = np.nonzero(mask)
            row = {"scene": name, "instance": instance, "annotation_id": next_annotation,
                   "source": "labelme", "category": category[label], "kind": label,
                   "area_px": int(mask.sum()), "bbox_x": bbox[0], "bbox_y": bbox[1],
                   "bbox_w": bbox[2], "bbox_h": bbox[3], "centroid_x": float(cc.mean()),
                   "centroid_y": float(rr.mean())}
            rows.append(row)
            annotations.append(_annotation(row, image_id, mask, {
                "source": "labelme", "label": label, "group_id": shape.get("group_id")}))
            next_annotation += 1
        for k in range(1, instance + 1):  # visible pixels once every shape is painted
            rows[-instance + k - 1]["visible_px"] = int((instances == k).sum())
        _write_png(folder / "instances.png", instances)
        _write_png(folder / "classes.png", classes)
        images.append({"id": image_id, "file_name": f"scenes/{name}/image.png",
                       "width": width, "height": height, "scene": name, "source": "labelme",
                       "original": str(doc.get("imagePath", path.name))})
    categories = [{"id": i, "name": n} for n, i in category.items()]
    info = {"description": "Labelme-annotated images", "files": len(docs),
            "skipped_shapes": skipped}
    _write_tables(out, images, annotations, categories, rows, info)
    return out


def load_coco(out_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(out_dir) / "dataset.json").read_text())
