"""ONNX export of a registered model (logits out; the batch, height and width axes dynamic).
The onnxruntime side is `sorter.models.onnx_runtime`, which needs no torch."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from sorter.models.card import ModelCard

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
OPSET = 17


def export_onnx(model: nn.Module, path: str | Path, example_shape: Sequence[int],
                card: ModelCard | None = None) -> Path:
    """Export `model` (eval mode, traced on a random input of `example_shape`, (N, C, H, W))
    to `path`; with `card`, write it next to the file (`<path>.card.json`, the ONNX file's
    checksum). Height and width should be multiples of 32: the wrapper pads to that."""
    if len(example_shape) != 4:
        raise ValueError(f"example_shape must be (N, C, H, W), got {tuple(example_shape)}")
    path = Path(path)
    was_training = model.training
    model.eval()
    example = torch.randn(*example_shape)
    axes = {0: "batch", 2: "height", 3: "width"}
    try:
        with warnings.catch_warnings():
            # the TorchScript-based exporter (no onnxscript needed) warns that it is legacy,
            # and the tracer that the stripe attention's padding test becomes a constant
            # (no padding is needed at multiples of 32)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(model, (example,), str(path), dynamo=False,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              opset_version=OPSET,
                              dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes})
    finally:
        model.train(was_training)
    if card is not None:
        card.save_for(path)
    return path
