"""Training a learned segmenter (sorter.models.data, augment, train): a training set read as
attenuation with its labels, augmentation that keeps labels aligned and images physical, and a
few CPU training steps that checkpoint, load back and resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from sorter.cli import parse_args
from sorter.models.augment import (
    GEOMETRIC_OPS,
    MAX_ATTENUATION,
    PIXEL_OPS,
    AugmentConfig,
    Augmenter,
    apply,
    draw_operations,
)
from sorter.models.card import ModelCard
from sorter.models.checkpoint import load_checkpoint
from sorter.models.data import (
    CropDataset,
    Sample,
    channel_stats,
    class_weights,
    read_training_set,
    split_scenes,
)
from sorter.models.registry import create_model
from sorter.models.train import (
    STATE,
    Distributed,
    TrainConfig,
    confusion,
    distributed_from_env,
    mean_iou,
    train,
)
from sorter.xrt_generator.training_scenes import DomainRandomisation
from sorter.xrt_generator.training_set import write_training_set

ROOT = Path(__file__).resolve().parents[2]
CELL = yaml.safe_load((ROOT / "config" / "cell.yaml").read_text())
FAST = DomainRandomisation(belt_thickness_m=(0.004, 0.004), belt_levels=1,
                           lithologies=("copper",), pitch_m=(0.0008, 0.0025),
                           coverage=(0.3, 0.45), overlap_fraction=(0.2, 0.3))
MODEL = "mineral_deeplabv3plus_small"


@pytest.fixture(scope="module")
def training_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_training_set(CELL, FAST, tmp_path_factory.mktemp("ts"), scenes=3, seed=5,
                              lines=64, pixels=64, progress=False)


@pytest.fixture(scope="module")
def scenes(training_set: Path) -> list:
    return read_training_set(training_set)


# --- data ------------------------------------------------------------------------------------


def test_training_set_reads_as_attenuation_with_its_labels(training_set: Path, scenes: list):
    rows = [r.split(",") for r in (training_set / "scenes.csv").read_text().splitlines()]
    header = rows[0]
    assert [s.name for s in scenes] == [r[0] for r in rows[1:]]
    for scene, row in zip(scenes, rows[1:], strict=True):
        image = scene.sample.image
        assert image.shape == (2, 64, 64) and image.dtype == np.float32
        assert image.min() >= 0.0 and np.isfinite(image).all()
        particle, belt = scene.labels > 0, scene.labels == 0
        assert particle.any() and belt.any()
        # the belt is in the flat: it reads about zero; rock attenuates, low more than high
        assert np.median(image[:, belt]) < 0.05
        assert image[0, particle].mean() > image[1, particle].mean() > 5 * np.median(
            image[1, belt])
        # the labels follow from instances and cover by the training set's own rule
        assert np.array_equal(scene.sample.labels(), scene.labels)
        assert scene.pitch_m == (float(row[header.index("pitch_across_m")]),
                                 float(row[header.index("pitch_along_m")]))


def test_split_is_by_scene_and_fixed_by_the_seed(scenes: list):
    train, val = split_scenes(scenes, 0.3, seed=1)
    again = split_scenes(scenes, 0.3, seed=1)
    assert [s.name for s in train] == [s.name for s in again[0]]
    assert len(val) == 1 and len(train) == 2
    assert {s.name for s in train} | {s.name for s in val} == {s.name for s in scenes}
    assert not {s.name for s in train} & {s.name for s in val}


def test_crops_are_fixed_size_and_reproducible(scenes: list):
    mean, std = channel_stats(scenes)
    card = ModelCard(MODEL, "t", mean=mean, std=std)
    ds = CropDataset(scenes, card, crop=48, augment=Augmenter(), seed=3)
    x, y = ds[1]
    assert x.shape == (2, 48, 48) and x.dtype == torch.float32
    assert y.shape == (48, 48) and y.dtype == torch.int64 and int(y.max()) <= 3
    x2, y2 = ds[1]
    assert torch.equal(x, x2) and torch.equal(y, y2)
    ds.set_epoch(1)
    assert not torch.equal(ds[1][0], x)
    big = CropDataset(scenes, card, crop=80)      # larger than the scene: belt around it
    xb, yb = big[0]
    assert xb.shape == (2, 80, 80) and int(yb[70:, :].max()) == 0


def test_class_weights_favour_the_rare_classes():
    w = class_weights(np.array([700_000, 250_000, 40_000, 10_000]))
    assert w[0] < w[1] < w[2] < w[3] and w[3] <= 10 * w.min() + 1e-6


# --- augmentation ----------------------------------------------------------------------------


def _painted() -> Sample:
    """Instances 1..4 as blocks, each painted with its own attenuation (low > high)."""
    inst = np.zeros((40, 40), np.int32)
    inst[4:16, 5:18], inst[6:20, 22:36], inst[24:37, 3:15], inst[22:34, 20:30] = 1, 2, 3, 4
    cover = (inst > 0).astype(np.uint8)
    cover[10:14, 14:18] = 2
    return Sample(_paint(inst), inst, cover)


def _paint(inst: np.ndarray) -> np.ndarray:
    return np.stack([np.where(inst > 0, 0.5 + 0.1 * inst, 0.0),
                     np.where(inst > 0, 0.3 + 0.05 * inst, 0.0)]).astype(np.float32)


@pytest.mark.parametrize("op", sorted(GEOMETRIC_OPS))
def test_geometric_operations_move_image_and_labels_together(op: str):
    cfg = AugmentConfig()
    for seed in range(5):
        s = apply(_painted(), [], [op], np.random.default_rng(seed), cfg)
        assert s.image.shape == (2, 40, 40) and s.instances.shape == s.cover.shape == (40, 40)
        # overlap stays where the covered instance's pixels went
        assert set(np.unique(s.cover[s.instances == 0])) <= {0}
        expected = _paint(s.instances)
        if op == "scale":   # bilinear at edges: the insides match
            inner = s.labels() == 1
            assert np.mean(np.abs(s.image[:, inner] - expected[:, inner]) < 1e-4) > 0.9
        else:
            assert np.array_equal(s.image, expected)


def test_pixel_operations_keep_the_images_physical(scenes: list):
    cfg = AugmentConfig()
    scene = scenes[0]
    particle = scene.labels > 0
    for op in sorted(PIXEL_OPS):
        for seed in range(3):
            s = apply(scene.sample, [op], [], np.random.default_rng(seed), cfg)
            assert np.array_equal(s.instances, scene.sample.instances)
            assert s.image.min() >= 0.0 and s.image.max() <= MAX_ATTENUATION
            # channels in their order: the low channel still attenuates more than the high
            assert s.image[0, particle].mean() > s.image[1, particle].mean(), op
            assert np.median(s.image[:, ~particle]) < 0.1, op
    s = apply(scene.sample, ["thickness"], [], np.random.default_rng(0), cfg)
    ratio = s.image[0, particle] / s.image[1, particle]
    assert np.allclose(ratio, scene.sample.image[0, particle] / scene.sample.image[1, particle],
                       rtol=1e-4)


def test_operations_are_drawn_in_the_two_spaces_by_the_combinations():
    cfg = AugmentConfig()
    seen = set()
    for seed in range(60):
        pixel, geometric = draw_operations(np.random.default_rng(seed), cfg)
        assert (len(pixel), len(geometric)) in cfg.combinations
        assert len(set(pixel)) == len(pixel) and len(set(geometric)) == len(geometric)
        assert set(pixel) <= set(PIXEL_OPS) and set(geometric) <= set(GEOMETRIC_OPS)
        seen.add((len(pixel), len(geometric)))
    assert seen == set(cfg.combinations)
    for name in ("invert", "equalize", "swap_channels"):
        assert name not in PIXEL_OPS


def test_augmented_crops_stay_aligned_and_physical(scenes: list):
    aug = Augmenter()
    for seed in range(20):
        s = aug(scenes[seed % 3].sample, np.random.default_rng(seed))
        assert s.image.min() >= 0.0 and np.isfinite(s.image).all()
        labels = s.labels()
        particle = labels > 0
        if particle.sum() > 50:
            assert s.image[0, particle].mean() > s.image[1, particle].mean()
            assert s.image[0, particle].mean() > 3 * np.median(s.image[0, ~particle]) + 0.05


# --- training --------------------------------------------------------------------------------


def test_distributed_branch_is_taken_only_under_torchrun():
    assert distributed_from_env({}) is None
    assert distributed_from_env({"WORLD_SIZE": "1", "RANK": "0"}) is None
    assert distributed_from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"}) == \
        Distributed(rank=3, local_rank=1, world_size=4)


def test_mean_iou_over_present_classes():
    target = torch.tensor([0, 0, 1, 1, 2])
    pred = torch.tensor([0, 1, 1, 1, 2])
    m = confusion(pred, target, 4)
    assert m.sum() == 5 and m[0, 1] == 1
    assert mean_iou(m) == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)


def test_a_few_steps_reduce_the_loss_on_a_fixed_batch(scenes: list):
    torch.manual_seed(0)
    torch.set_num_threads(2)
    mean, std = channel_stats(scenes)
    ds = CropDataset(scenes, ModelCard(MODEL, "t", mean=mean, std=std), crop=64)
    x = torch.stack([ds[i][0] for i in range(2)])
    y = torch.stack([ds[i][1] for i in range(2)])
    model = create_model(MODEL).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.937, weight_decay=5e-4)
    losses = []
    for _ in range(6):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_training_checkpoints_load_back_and_resume(training_set: Path, tmp_path: Path):
    out = tmp_path / "run"
    cfg = TrainConfig(data=training_set, model=MODEL, out=out, epochs=3, batch=2, crop=64,
                      threads=2, seed=1, max_steps=2, progress=False)
    first = train(cfg)
    assert first.steps == 2 and first.start_step == 0
    for name in ("last.pt", "best.pt"):
        model, card = load_checkpoint(out / name, channels=("low", "high"))
        lo, hi = card.pitch_range_m
        assert 0 < lo < hi < 0.01
        assert card.std[0] > 0 and card.name == MODEL
        assert model(torch.zeros(1, 2, 64, 64)).shape == (1, 4, 64, 64)
    history = json.loads((out / "training.json").read_text())
    assert history["recipe"]["momentum"] == 0.937 and len(history["val_scenes"]) == 1
    assert torch.load(out / STATE, weights_only=True)["step"] == 2

    again = train(TrainConfig(**{**cfg.__dict__, "max_steps": 3, "resume": True}))
    assert again.start_step == 2 and again.steps == 3
    assert torch.load(out / STATE, weights_only=True)["step"] == 3
    # two scenes of 64 x 64 for training: one step per epoch, so the run ends between epochs
    history = json.loads((out / "training.json").read_text())["history"]
    assert [(h["epoch"], h["step"], h["complete"]) for h in history] == \
        [(1, 1, True), (2, 2, True), (3, 3, True)]


def test_cli_parses_the_training_command():
    args = parse_args(["train", "segmentation", "--data", "d", "--out", "o", "--epochs", "2",
                       "--batch", "8", "--crop", "96", "--lr", "0.02", "--threads", "2",
                       "--resume", "--seed", "4", "--max-steps", "10"])
    assert args.model == MODEL and args.crop == 96 and args.resume and args.max_steps == 10
    with pytest.raises(SystemExit):
        parse_args(["train", "segmentation", "--data", "d", "--out", "o", "--batch", "0"])


def test_an_epoch_cut_short_is_run_again_on_resume(training_set: Path, tmp_path: Path):
    # two training scenes, four 32-px crops each, batches of 2: four steps per epoch
    cfg = TrainConfig(data=training_set, model=MODEL, out=tmp_path / "run", epochs=2, batch=2,
                      crop=32, threads=2, seed=1, max_steps=2, progress=False)
    first = train(cfg)
    assert (first.steps, first.epochs) == (2, 0)
    assert torch.load(cfg.out / STATE, weights_only=True)["epoch"] == 0
    again = train(TrainConfig(**{**cfg.__dict__, "max_steps": 6, "resume": True}))
    assert (again.start_step, again.steps, again.epochs) == (2, 6, 1)
    history = json.loads((cfg.out / "training.json").read_text())["history"]
    assert [(h["epoch"], h["step"], h["complete"]) for h in history] == \
        [(1, 2, False), (1, 6, True)]
