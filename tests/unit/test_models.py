"""The learned-segmentation toolchain (sorter.models): every registered network builds and
maps (N, 2, H, W) to (N, 4, H, W) at multiples of 32 and at odd sizes; the ablation flags
change the structure; the stripe attention mixes along rows and columns only; the model card
round-trips and refuses what the model was not trained on; the ONNX export of the small model
matches torch; the onnxruntime wrapper imports no torch. CPU, tiny inputs."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from sorter.cli import main
from sorter.models.card import ModelCard, card_path, read_card
from sorter.models.checkpoint import load_checkpoint, save_checkpoint
from sorter.models.export import export_onnx
from sorter.models.layers import CrossStripeAttention
from sorter.models.mineral_deeplab import MineralDeepLabV3Plus, SelectiveASPP
from sorter.models.onnx_runtime import OnnxSegmenter
from sorter.models.registry import (
    CLASSES,
    count_parameters,
    create_model,
    get_entry,
    list_models,
    register_model,
)

MODELS = ["mineral_deeplabv3plus", "mineral_deeplabv3plus_small", "smp_deeplabv3plus",
          "smp_unet"]
SMALL = "mineral_deeplabv3plus_small"


@pytest.fixture(autouse=True)
def _two_threads() -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)


def test_registry_lists_the_four_entries_with_their_defaults() -> None:
    assert list_models() == sorted(MODELS)
    for name in MODELS:
        entry = get_entry(name)
        assert entry.default_config["in_channels"] == 2
        assert entry.default_config["num_classes"] == len(CLASSES) == 4
        assert entry.description


def test_registry_refuses_unknown_names_options_and_duplicates() -> None:
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        create_model("nope")
    with pytest.raises(TypeError, match="no option"):
        create_model(SMALL, widht=3)
    with pytest.raises(ValueError, match="already registered"):
        register_model(SMALL)(lambda **kw: nn.Identity())


@pytest.mark.parametrize("name", MODELS)
def test_every_model_maps_two_channels_to_four_classes(name: str) -> None:
    model = create_model(name).eval()
    counts = count_parameters(model)
    print(f"{name}: {counts / 1e6:.2f} M parameters")
    assert counts > 0
    with torch.no_grad():
        for shape in [(2, 2, 64, 64), (1, 2, 64, 96), (1, 2, 67, 45), (1, 2, 33, 31)]:
            out = model(torch.randn(*shape))
            assert out.shape == (shape[0], 4, *shape[2:]), (name, shape)
            assert torch.isfinite(out).all()


def test_training_step_on_a_batch_of_one() -> None:
    # the image-pooling branch has no batch norm on its 1x1 map: batch 1 trains
    model = create_model(SMALL).train()
    out = model(torch.randn(1, 2, 64, 64))
    nn.functional.cross_entropy(out, torch.randint(0, 4, (1, 64, 64))).backward()
    assert model.aspp.selection_logits.grad is not None


def test_ablation_flags_change_the_structure() -> None:
    full = create_model(SMALL)
    no_selection = create_model(SMALL, selection=False)
    no_attention = create_model(SMALL, attention=False)
    assert isinstance(full, MineralDeepLabV3Plus)
    assert isinstance(no_selection, MineralDeepLabV3Plus)
    assert isinstance(no_attention, MineralDeepLabV3Plus)

    def attention_blocks(m: nn.Module) -> int:
        return sum(isinstance(x, CrossStripeAttention) for x in m.modules())

    assert attention_blocks(full) == 2 and attention_blocks(no_attention) == 0
    assert full.aspp.selection_logits is not None and no_selection.aspp.selection_logits is None
    assert count_parameters(full) - count_parameters(no_selection) == 5
    assert count_parameters(no_attention) < count_parameters(full)
    weights = full.aspp.branch_weights()
    assert weights is not None and torch.allclose(weights, torch.ones(5))


def test_aspp_has_the_papers_dilations_and_five_branches() -> None:
    aspp = SelectiveASPP(16, 8)
    dilations = [m.dilation[0] for m in aspp.modules()
                 if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert dilations == [3, 9, 15]
    assert aspp(torch.randn(1, 16, 9, 13)).shape == (1, 8, 9, 13)


def test_stripe_attention_mixes_along_rows_and_columns_only() -> None:
    torch.manual_seed(1)
    att = CrossStripeAttention(8, heads=2, stripe_width=1).eval()
    with torch.no_grad():
        att.gamma.fill_(1.0)
        x = torch.randn(1, 8, 12, 14)
        y = x.clone()
        y[0, :, 3, 4] += 5.0   # perturb one position
        diff = (att(y) - att(x)).abs().sum(dim=1)[0]
    changed = diff > 1e-6
    assert changed[3, 12] and changed[10, 4]     # same row far away, same column far away
    assert not changed[10, 12]                    # neither: untouched
    assert att(torch.randn(2, 8, 5, 7)).shape == (2, 8, 5, 7)  # padding to the stripe width


# --- model card ---------------------------------------------------------------------------


def _card(**kw: object) -> ModelCard:
    base = dict(name=SMALL, version="0.1", mean=(0.5, 0.3), std=(0.2, 0.1),
                pitch_range_m=(0.4e-3, 0.8e-3))
    return ModelCard(**{**base, **kw})  # type: ignore[arg-type]


def test_card_round_trips_and_checks(tmp_path: Path) -> None:
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"weights")
    written = _card().save_for(weights)
    assert card_path(weights).name == "w.bin.card.json"
    assert len(written.checksum) == 64
    assert read_card(weights, channels=("low", "high"), pitch_m=0.5e-3) == written
    unbounded = _card(pitch_range_m=(0.0, float("inf"))).save_for(weights)
    assert read_card(weights) == unbounded


def test_card_refusals(tmp_path: Path) -> None:
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"weights")
    _card().save_for(weights)
    with pytest.raises(ValueError, match="takes channels"):
        read_card(weights, channels=("low",))
    with pytest.raises(ValueError, match="takes channels"):
        read_card(weights, channels=3)
    with pytest.raises(ValueError, match="1 mm is outside"):
        read_card(weights, pitch_m=1e-3)
    weights.write_bytes(b"other weights")
    with pytest.raises(ValueError, match="do not match their card"):
        read_card(weights)
    with pytest.raises(ValueError, match="no model card"):
        read_card(tmp_path / "missing.bin")
    with pytest.raises(ValueError, match="one value per channel"):
        _card(mean=(0.0,))
    with pytest.raises(ValueError, match="std must be positive"):
        _card(std=(1.0, 0.0))
    with pytest.raises(ValueError, match="pitch range"):
        _card(pitch_range_m=(1e-3, 0.5e-3))


def test_checkpoint_round_trip_rebuilds_the_model(tmp_path: Path) -> None:
    model = create_model(SMALL, attention=False).eval()
    path = tmp_path / "small.pt"
    card = save_checkpoint(model, _card(), path)
    assert card.config["attention"] is False
    loaded, loaded_card = load_checkpoint(path, channels=2, pitch_m=0.6e-3)
    assert loaded_card == card
    x = torch.randn(1, 2, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    with pytest.raises(ValueError, match="outside"):
        load_checkpoint(path, pitch_m=2e-3)
    with pytest.raises(ValueError, match="the card names model"):
        save_checkpoint(model, replace(_card(), name="smp_unet"), path)


# --- ONNX ---------------------------------------------------------------------------------


def test_onnx_export_of_the_small_model_matches_torch(tmp_path: Path) -> None:
    model = create_model(SMALL).eval()
    card = _card()
    path = export_onnx(model, tmp_path / "small.onnx", (1, 2, 64, 128), card=card)
    segmenter = OnnxSegmenter(path, threads=2)
    assert segmenter.card is not None and segmenter.card.checksum
    rng = np.random.default_rng(0)
    for h, w in [(64, 128), (96, 64), (50, 70)]:
        low, high = rng.random((h, w)), rng.random((h, w))
        probs = segmenter.predict(low, high, pitch_m=0.5e-3)
        assert probs.shape == (4, h, w) and probs.dtype == np.float32
        np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)
        # torch on the same normalised, edge-padded input
        x = card.normalise([low, high])[None]
        x = np.pad(x, ((0, 0), (0, 0), (0, -h % 32), (0, -w % 32)), mode="edge")
        with torch.no_grad():
            ref = torch.softmax(model(torch.from_numpy(x)), dim=1)[0, :, :h, :w].numpy()
        np.testing.assert_allclose(probs, ref, atol=1e-4)
    with pytest.raises(ValueError, match="outside"):
        segmenter.predict(low, high, pitch_m=5e-3)
    with pytest.raises(ValueError, match="one shape"):
        segmenter.predict(low, high[:-1])


def test_onnx_wrapper_imports_no_torch() -> None:
    code = ("import sys, sorter.models.onnx_runtime; "
            "sys.exit('torch' in sys.modules or 'timm' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_models_list_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list", "--no-params"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in MODELS)
