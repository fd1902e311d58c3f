"""Inference on an exported model with onnxruntime and numpy only (no torch import):
`OnnxSegmenter(path).predict(low, high)` -> class probabilities (C, H, W).

The card next to the ONNX file (`<path>.card.json`, written by export_onnx) supplies the
normalisation and the pitch range; without a card the images go in as they are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from sorter.models.card import ModelCard, card_path, read_card

PAD_MULTIPLE = 32  # the encoders' largest stride


class OnnxSegmenter:
    def __init__(self, path: str | Path, threads: int | None = None,
                 pitch_m: float | None = None, require_card: bool = False) -> None:
        self.path = Path(path)
        self.card: ModelCard | None = None
        if require_card or card_path(self.path).is_file():
            self.card = read_card(self.path, pitch_m=pitch_m)
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.path), options,
                                            providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def check_pitch(self, pitch_m: float) -> None:
        if self.card is not None:
            self.card.check_pitch(pitch_m)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Raw network output (N, classes, H, W) for a prepared (N, C, H, W) float32 batch;
        H and W are padded (edge values) to a multiple of 32 and the output cropped back."""
        n, c, h, w = batch.shape
        pad_h, pad_w = -h % PAD_MULTIPLE, -w % PAD_MULTIPLE
        if pad_h or pad_w:
            batch = np.pad(batch, ((0, 0), (0, 0), (0, pad_h), (0, pad_w)), mode="edge")
        out: np.ndarray = self.session.run(None, {self.input_name: batch})[0]
        return out[:, :, :h, :w]

    def predict(self, low: np.ndarray, high: np.ndarray,
                pitch_m: float | None = None) -> np.ndarray:
        """Class probabilities (classes, H, W), float32, for one pair of attenuation images of
        the same (H, W); `pitch_m` is checked against the card's range when given."""
        low, high = np.asarray(low), np.asarray(high)
        if low.ndim != 2 or low.shape != high.shape:
            raise ValueError(f"low and high must be 2-D images of one shape, got {low.shape} "
                             f"and {high.shape}")
        if pitch_m is not None:
            self.check_pitch(pitch_m)
        if self.card is not None:
            x = self.card.normalise([low, high])
        else:
            x = np.stack([low, high]).astype(np.float32)
        logits = self.logits(x[None])[0]
        e = np.exp(logits - logits.max(axis=0, keepdims=True))
        probs: np.ndarray = (e / e.sum(axis=0, keepdims=True)).astype(np.float32)
        return probs
