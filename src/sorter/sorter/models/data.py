"""A training set on disk (`sorter xray training-set`) as network input: per scene the two
attenuation images ln(I0/I) (low, high), the instance map, the footprint cover and the class
labels; a train/validation split by scene; random fixed-size crops as a torch Dataset.

The raw counts are corrected exactly as the acquisition node corrects a strip (dark/flat-field
correction with the scene's own references, mono16 transmission, the same attenuation table),
so the network sees in training what it is given in the cell. Labels of a crop are recomputed
from its instances and cover with the training set's own rule (`label_map`): the crop's edge
is a frame edge, as the scene's edge is."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from sorter.models.card import ModelCard
from sorter.xrt_acquisition.core import FlatFieldCorrector, RawStrip, attenuation_from_mono16
from sorter.xrt_generator.training_scenes import LABEL_OVERLAP, label_map


@dataclass
class Sample:
    """One image and its truth on the same pixel grid.

    image: (2, H, W) float32 attenuation, low then high; instances: (H, W) int32 top-most
    particle (0 belt); cover: (H, W) uint8 footprints over the pixel, 0, 1 or 2 (two or more)."""

    image: np.ndarray
    instances: np.ndarray
    cover: np.ndarray

    def labels(self) -> np.ndarray:
        """0 belt, 1 interior, 2 boundary, 3 overlap (the training set's rule)."""
        return label_map(self.instances, self.cover)


@dataclass
class Scene:
    name: str
    sample: Sample
    labels: np.ndarray           # labels.png as written
    pitch_m: tuple[float, float]  # (across, along) pixel pitch


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"cannot read {path}")
    return np.asarray(image)


def attenuation(low: np.ndarray, high: np.ndarray, references: np.ndarray) -> np.ndarray:
    """(2, H, W) float32 ln(I0/I) of raw uint16 counts, corrected with the references
    (dark low, dark high, flat low, flat high) as the acquisition node corrects a strip."""
    corrector = FlatFieldCorrector(*references.astype(np.float32))
    strip = RawStrip(index=0, stamp_s=0.0, encoder_m=0.0, line_pitch_m=1.0, line_period_s=1.0,
                     low=low, high=high)
    return np.stack([attenuation_from_mono16(t) for t in corrector.correct(strip)])


def read_scene(folder: Path, pitch_m: tuple[float, float]) -> Scene:
    """One scene folder of a training set."""
    image = attenuation(_read(folder / "low.png"), _read(folder / "high.png"),
                        _read(folder / "references.png"))
    labels = _read(folder / "labels.png").astype(np.uint8)
    instances = _read(folder / "instances.png").astype(np.int32)
    cover = np.where(labels == LABEL_OVERLAP, 2, instances > 0).astype(np.uint8)
    return Scene(folder.name, Sample(image, instances, cover), labels, pitch_m)


def read_training_set(root: str | Path) -> list[Scene]:
    """Every scene of a training-set folder, in scenes.csv order, with its pixel pitch."""
    root = Path(root)
    table = root / "scenes.csv"
    if not table.is_file():
        raise ValueError(f"{root} is not a training set (no scenes.csv; make one with "
                         "`sorter xray training-set`)")
    with table.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{table} lists no scenes")
    return [read_scene(root / "scenes" / r["scene"],
                       (float(r["pitch_across_m"]), float(r["pitch_along_m"]))) for r in rows]


def split_scenes(scenes: Sequence[Scene], val_fraction: float,
                 seed: int) -> tuple[list[Scene], list[Scene]]:
    """(train, validation) by whole scenes, drawn with `seed`; at least one validation scene
    when there are two or more scenes and val_fraction > 0."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {val_fraction}")
    order = np.random.default_rng(seed).permutation(len(scenes))
    n_val = round(val_fraction * len(scenes))
    if val_fraction > 0 and len(scenes) >= 2:
        n_val = min(max(n_val, 1), len(scenes) - 1)
    val = sorted(int(i) for i in order[:n_val])
    train = sorted(int(i) for i in order[n_val:])
    return [scenes[i] for i in train], [scenes[i] for i in val]


def pitch_range(scenes: Sequence[Scene]) -> tuple[float, float]:
    """(min, max) pixel pitch over both directions of the scenes, metres."""
    values = [p for s in scenes for p in s.pitch_m]
    return min(values), max(values)


def channel_stats(scenes: Sequence[Scene]) -> tuple[tuple[float, float], tuple[float, float]]:
    """Per-channel mean and standard deviation of the attenuation over the scenes."""
    stack = np.concatenate([s.sample.image.reshape(2, -1) for s in scenes], axis=1)
    mean = stack.mean(axis=1, dtype=np.float64)
    std = np.maximum(stack.std(axis=1, dtype=np.float64), 1e-6)
    return (float(mean[0]), float(mean[1])), (float(std[0]), float(std[1]))


def class_counts(scenes: Sequence[Scene], classes: int) -> np.ndarray:
    return sum((np.bincount(s.labels.ravel(), minlength=classes)[:classes] for s in scenes),
               start=np.zeros(classes, dtype=np.int64))


def class_weights(counts: np.ndarray, limit: float = 10.0) -> np.ndarray:
    """Cross-entropy weights from pixel counts per class: 1/sqrt(frequency), scaled to a
    pixel-weighted mean of 1 and clipped to [1/limit, limit] of that (absent classes: limit)."""
    freq = counts / max(int(counts.sum()), 1)
    raw = np.where(freq > 0, 1.0 / np.sqrt(np.maximum(freq, 1e-12)), np.inf)
    present = freq > 0
    scale = float((freq[present] * raw[present]).sum()) if present.any() else 1.0
    weights = np.clip(raw / scale, 1.0 / limit, limit)
    return weights.astype(np.float32)


def crop_sample(sample: Sample, top: int, left: int, size: int) -> Sample:
    """The size x size window at (top, left); a scene smaller than that is padded with belt
    (attenuation 0, no particle)."""
    h, w = sample.instances.shape
    pad_h, pad_w = max(size - h, 0), max(size - w, 0)
    image, instances, cover = sample.image, sample.instances, sample.cover
    if pad_h or pad_w:
        image = np.pad(image, ((0, 0), (0, pad_h), (0, pad_w)))
        instances = np.pad(instances, ((0, pad_h), (0, pad_w)))
        cover = np.pad(cover, ((0, pad_h), (0, pad_w)))
    rows, cols = slice(top, top + size), slice(left, left + size)
    return Sample(image[:, rows, cols].copy(), instances[rows, cols].copy(),
                  cover[rows, cols].copy())


Augment = Callable[[Sample, np.random.Generator], Sample]


class CropDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Normalised (2, crop, crop) inputs and (crop, crop) int64 class targets: random crops
    of the scenes, `augment` applied to each; item i of epoch e draws from (seed, e, i) only,
    so an epoch is the same however it is split among workers or processes. `crop=None`:
    whole scenes, no randomness (validation). `crops_per_scene` defaults to about one
    covering of each scene per epoch."""

    def __init__(self, scenes: Sequence[Scene], card: ModelCard, crop: int | None = None,
                 augment: Augment | None = None, seed: int = 0,
                 crops_per_scene: int | None = None) -> None:
        if not scenes:
            raise ValueError("no scenes to read")
        self.scenes = list(scenes)
        self.card = card
        self.crop = crop
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        h, w = self.scenes[0].labels.shape
        if crop is None:
            self.crops_per_scene = 1
        else:
            self.crops_per_scene = crops_per_scene or max(1, round(h * w / crop ** 2))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.scenes) * self.crops_per_scene

    def sample(self, index: int) -> Sample:
        """The (augmented) crop of item `index` of the current epoch, not normalised."""
        scene = self.scenes[index % len(self.scenes)]
        if self.crop is None:
            return scene.sample
        rng = np.random.default_rng([self.seed, self.epoch, index])
        h, w = scene.labels.shape
        top = int(rng.integers(0, max(h - self.crop, 0) + 1))
        left = int(rng.integers(0, max(w - self.crop, 0) + 1))
        out = crop_sample(scene.sample, top, left, self.crop)
        return self.augment(out, rng) if self.augment is not None else out

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        sample = self.sample(index)
        labels = (self.scenes[index % len(self.scenes)].labels if self.crop is None
                  else sample.labels())
        x = self.card.normalise([sample.image[0], sample.image[1]])
        return torch.from_numpy(x), torch.from_numpy(labels.astype(np.int64))
