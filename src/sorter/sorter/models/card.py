"""The model card stored next to a weights file (`<weights>.card.json`): what the network was
trained on and how its input is prepared, so that a loader refuses data it was not made for.

Torch-free: the onnxruntime wrapper reads the same card."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CARD_SUFFIX = ".card.json"
CARD_FORMAT = 1


def card_path(weights: str | Path) -> Path:
    weights = Path(weights)
    return weights.with_name(weights.name + CARD_SUFFIX)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelCard:
    """name: registry entry; version: of the trained weights; channels: the input images in
    order; mean, std: per-channel normalisation, input = (image - mean) / std; pitch_range_m:
    the (min, max) pixel pitch of the training images, metres; classes: the output classes in
    order; checksum: sha256 of the weights file (filled on save)."""

    name: str
    version: str
    channels: tuple[str, ...] = ("low", "high")
    mean: tuple[float, ...] = (0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0)
    pitch_range_m: tuple[float, float] = (0.0, float("inf"))
    classes: tuple[str, ...] = ("background", "interior", "boundary", "overlap")
    checksum: str = ""
    config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("channels", "mean", "std", "pitch_range_m", "classes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        n = len(self.channels)
        if len(self.mean) != n or len(self.std) != n:
            raise ValueError(f"model card {self.name}: mean and std need one value per channel "
                             f"({n}), got {len(self.mean)} and {len(self.std)}")
        if any(not s > 0 for s in self.std):
            raise ValueError(f"model card {self.name}: std must be positive, got {self.std}")
        lo, hi = self.pitch_range_m
        if not 0 <= lo <= hi:
            raise ValueError(f"model card {self.name}: pitch range must be 0 <= min <= max, "
                             f"got {self.pitch_range_m}")

    # --- checks a loader makes --------------------------------------------------------------

    def check_channels(self, channels: Sequence[str] | int) -> None:
        """Refuse input with other channels than the network was trained on."""
        if isinstance(channels, int):
            ok = channels == len(self.channels)
        else:
            ok = tuple(channels) == self.channels
        if not ok:
            raise ValueError(f"model {self.name} {self.version} takes channels {self.channels}, "
                             f"given {channels}")

    def check_pitch(self, pitch_m: float) -> None:
        """Refuse images of a pixel pitch outside the range the network was trained on."""
        lo, hi = self.pitch_range_m
        if not lo <= pitch_m <= hi:
            raise ValueError(f"model {self.name} {self.version} was trained on pixel pitches "
                             f"{lo * 1e3:g}-{hi * 1e3:g} mm; {pitch_m * 1e3:g} mm is outside")

    def check_weights(self, weights: str | Path) -> None:
        """Refuse a weights file whose sha256 differs from the card's."""
        actual = file_sha256(weights)
        if self.checksum and actual != self.checksum:
            raise ValueError(f"weights {weights} do not match their card (sha256 {actual[:12]}, "
                             f"card says {self.checksum[:12]})")

    def normalise(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(C, H, W) float32 input from one image per channel."""
        self.check_channels(len(images))
        stack = np.stack([np.asarray(im, dtype=np.float32) for im in images])
        mean = np.asarray(self.mean, np.float32)[:, None, None]
        std = np.asarray(self.std, np.float32)[:, None, None]
        out: np.ndarray = (stack - mean) / std
        return out

    # --- file ------------------------------------------------------------------------------

    def to_json(self) -> str:
        body = asdict(self)
        lo, hi = self.pitch_range_m
        body["pitch_range_m"] = [lo, hi if np.isfinite(hi) else None]
        return json.dumps({"format": CARD_FORMAT, **body}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        body = json.loads(text)
        if body.pop("format", None) != CARD_FORMAT:
            raise ValueError(f"model card format is not {CARD_FORMAT}")
        lo, hi = body.get("pitch_range_m", (0.0, None))
        body["pitch_range_m"] = (lo, float("inf") if hi is None else hi)
        try:
            return cls(**body)
        except TypeError as err:
            raise ValueError(f"model card: {err}") from err

    def save_for(self, weights: str | Path) -> ModelCard:
        """Write the card next to `weights` with the weights' checksum; returns that card."""
        from dataclasses import replace

        card = replace(self, checksum=file_sha256(weights))
        card_path(weights).write_text(card.to_json() + "\n")
        return card


def read_card(weights: str | Path, channels: Sequence[str] | int | None = None,
              pitch_m: float | None = None) -> ModelCard:
    """The card stored next to `weights`, checked against the weights file and, when given,
    the input channels and pixel pitch (ValueError on any mismatch or a missing card)."""
    path = card_path(weights)
    if not path.is_file():
        raise ValueError(f"no model card {path} next to the weights {weights}")
    card = ModelCard.from_json(path.read_text())
    card.check_weights(weights)
    if channels is not None:
        card.check_channels(channels)
    if pitch_m is not None:
        card.check_pitch(pitch_m)
    return card
