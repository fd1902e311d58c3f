"""Training a registered segmentation model on a training set (`sorter train segmentation`).

The default recipe is the one Yu et al. train Mineral-DeepLabV3+ with (their training
parameters table, see docs/references.md): SGD, initial learning rate 0.01, momentum 0.937,
weight decay 0.0005, 16 images per batch, 100 epochs. They state no learning-rate schedule;
the rate stays constant here. Their augmentation is `sorter.models.augment`. The crop size
(128 pixels) and early stopping (10 epochs without a better validation mIoU) are this
project's choices.

The loss is cross-entropy weighted per class from the training scenes' pixel counts
(`data.class_weights`: boundary and overlap pixels are rare). Seeds fix the split, the crops,
the augmentation and the initial weights. After every epoch `last.pt` (weights and model card,
`sorter.models.checkpoint`) and `last.state.pt` (optimiser, epoch, step, best score) are
written, `best.pt` whenever the validation mean IoU improves, and `training.json` (recipe and
per-epoch history). `resume` continues from `last.state.pt`; an epoch cut short by
`max_steps` is run again from its start, the step count going on.

CPU by default, the GPU when torch sees one. Launched by torchrun (WORLD_SIZE > 1), it trains
data-parallel (DistributedDataParallel, one process per device, a DistributedSampler); rank 0
writes the files."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from sorter.models.augment import AugmentConfig, Augmenter
from sorter.models.card import ModelCard
from sorter.models.checkpoint import save_checkpoint
from sorter.models.data import (
    CropDataset,
    channel_stats,
    class_counts,
    class_weights,
    pitch_range,
    read_training_set,
    split_scenes,
)
from sorter.models.registry import CLASSES, create_model, get_entry
from sorter.segmentation.metrics import pixel_metrics

LAST, BEST, STATE, HISTORY = "last.pt", "best.pt", "last.state.pt", "training.json"


@dataclass(frozen=True)
class TrainConfig:
    data: Path
    model: str
    out: Path
    epochs: int = 100
    batch: int = 16
    crop: int = 128
    lr: float = 0.01
    momentum: float = 0.937
    weight_decay: float = 0.0005
    threads: int | None = None
    resume: bool = False
    seed: int = 0
    max_steps: int | None = None
    patience: int = 10
    val_fraction: float = 0.2
    augment: bool = True
    progress: bool = True

    def recipe(self) -> dict[str, Any]:
        body = asdict(self)
        return {k: str(v) if isinstance(v, Path) else v for k, v in body.items()}


@dataclass
class TrainResult:
    steps: int
    epochs: int                     # epochs completed (an epoch cut short does not count)
    best_miou: float
    start_step: int
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Distributed:
    rank: int
    local_rank: int
    world_size: int


def distributed_from_env(env: Mapping[str, str]) -> Distributed | None:
    """The torchrun process group this process belongs to, or None for a single process."""
    world = int(env.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    return Distributed(int(env["RANK"]), int(env.get("LOCAL_RANK", "0")), world)


def confusion(pred: torch.Tensor, target: torch.Tensor, classes: int) -> torch.Tensor:
    """(classes, classes) pixel counts, rows the true class."""
    index = target.reshape(-1) * classes + pred.reshape(-1)
    return torch.bincount(index, minlength=classes ** 2).reshape(classes, classes).cpu()


def mean_iou(matrix: torch.Tensor) -> float:
    """Mean IoU over the classes present in truth or prediction (NaN when none): the same
    figure `sorter.segmentation.metrics` reports, so validation and evaluation agree."""
    return pixel_metrics(matrix.numpy()).miou


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, classes: int) -> float:
    model.eval()
    total = torch.zeros(classes, classes, dtype=torch.long)
    for x, y in loader:
        pred = model(x.to(device)).argmax(1)
        total += confusion(pred, y.to(device), classes)
    return mean_iou(total)


@contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[..., None] | None]:
    """A function updating a progress bar (completed=..., status=...), or None."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[status]}")) as bar:
        task = bar.add_task("training", total=total, status="")
        yield lambda **kw: bar.update(task, **kw)


def _unwrap(model: nn.Module) -> nn.Module:
    inner = getattr(model, "module", model)
    assert isinstance(inner, nn.Module)
    return inner


def train(cfg: TrainConfig) -> TrainResult:
    """Train `cfg.model` on the training set `cfg.data`; files in `cfg.out`."""
    get_entry(cfg.model)   # unknown names fail before any reading
    dist = distributed_from_env(os.environ)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    if dist is not None:
        import torch.distributed as td

        td.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        device = (torch.device("cuda", dist.local_rank) if torch.cuda.is_available()
                  else torch.device("cpu"))
        if device.type == "cuda":
            torch.cuda.set_device(device)
    else:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    writer = dist is None or dist.rank == 0
    try:
        return _train(cfg, dist, device, writer)
    finally:
        if dist is not None:
            import torch.distributed as td

            td.destroy_process_group()


def _train(cfg: TrainConfig, dist: Distributed | None, device: torch.device,
           writer: bool) -> TrainResult:
    scenes = read_training_set(cfg.data)
    train_scenes, val_scenes = split_scenes(scenes, cfg.val_fraction, cfg.seed)
    mean, std = channel_stats(train_scenes)
    lo, hi = pitch_range(train_scenes)
    augment_cfg = AugmentConfig()
    if cfg.augment:
        f_lo, f_hi = augment_cfg.pitch_factors()
        lo, hi = lo * f_lo, hi * f_hi
    card = ModelCard(cfg.model, "untrained", mean=mean, std=std, pitch_range_m=(lo, hi),
                     classes=CLASSES)
    classes = len(CLASSES)
    weights = torch.from_numpy(class_weights(class_counts(train_scenes, classes))).to(device)

    train_set = CropDataset(train_scenes, card, cfg.crop,
                            Augmenter(augment_cfg) if cfg.augment else None, cfg.seed)
    val_loader = (DataLoader(CropDataset(val_scenes, card), batch_size=cfg.batch)
                  if val_scenes else None)

    model = create_model(cfg.model).to(device)
    optimiser = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay)
    out = Path(cfg.out)
    start_epoch, step, best, stale = 0, 0, -math.inf, 0
    history: list[dict[str, Any]] = []
    if cfg.resume:
        state = torch.load(out / STATE, map_location="cpu", weights_only=True)
        if state["model"] != cfg.model:
            raise ValueError(f"{out / STATE} is a run of {state['model']}, not {cfg.model}")
        model.load_state_dict(torch.load(out / LAST, map_location=device, weights_only=True))
        optimiser.load_state_dict(state["optimiser"])
        start_epoch, step, best, stale = (state["epoch"], state["step"], state["best"],
                                          state["stale"])
        torch.set_rng_state(state["rng"])
        if (out / HISTORY).is_file():
            history = json.loads((out / HISTORY).read_text())["history"]
    start_step = step
    if dist is not None:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(
            model, device_ids=[dist.local_rank] if device.type == "cuda" else None)
    if writer:
        out.mkdir(parents=True, exist_ok=True)

    steps_per_epoch = math.ceil(len(train_set) / cfg.batch / (dist.world_size if dist else 1))
    total = cfg.epochs * steps_per_epoch
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    epochs_done = start_epoch
    with _progress(cfg.progress and writer, total) as bar:
        if bar is not None:
            bar(completed=min(step, total))
        for epoch in range(start_epoch, cfg.epochs):
            if cfg.max_steps is not None and step >= cfg.max_steps:
                break
            train_set.set_epoch(epoch)
            if dist is not None:
                sampler: DistributedSampler[tuple[torch.Tensor, torch.Tensor]] = \
                    DistributedSampler(train_set, dist.world_size, dist.rank, seed=cfg.seed)
                sampler.set_epoch(epoch)
                loader = DataLoader(train_set, batch_size=cfg.batch, sampler=sampler)
            else:
                order = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
                loader = DataLoader(train_set, batch_size=cfg.batch, shuffle=True,
                                    generator=order)
            model.train()
            losses: list[float] = []
            cut_short = False
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                loss = F.cross_entropy(model(x), y, weight=weights)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                step += 1
                losses.append(loss.item())
                if bar is not None:
                    bar(completed=min(step, total),
                        status=f"epoch {epoch + 1} loss {losses[-1]:.4f}")
                if cfg.max_steps is not None and step >= cfg.max_steps:
                    cut_short = len(losses) < len(loader)
                    break
            core = _unwrap(model)
            miou = (evaluate(core, val_loader, device, classes) if val_loader is not None
                    else math.nan)
            score = -float(np.mean(losses)) if math.isnan(miou) else miou
            improved = score > best
            best, stale = (score, 0) if improved else (best, stale + 1)
            epochs_done = epoch if cut_short else epoch + 1
            history.append({"epoch": epoch + 1, "step": step, "loss": float(np.mean(losses)),
                            "val_miou": None if math.isnan(miou) else miou,
                            "complete": not cut_short})
            if writer:
                version = f"{out.name} epoch {epoch + 1} step {step}"
                epoch_card = ModelCard(**{**asdict(card), "version": version})
                save_checkpoint(core, epoch_card, out / LAST)
                if improved:
                    save_checkpoint(core, epoch_card, out / BEST)
                torch.save({"model": cfg.model, "optimiser": optimiser.state_dict(),
                            "epoch": epochs_done, "step": step, "best": best, "stale": stale,
                            "rng": torch.get_rng_state()}, out / STATE)
                (out / HISTORY).write_text(json.dumps(
                    {"recipe": cfg.recipe(), "class_weights": weights.tolist(),
                     "train_scenes": [s.name for s in train_scenes],
                     "val_scenes": [s.name for s in val_scenes], "history": history},
                    indent=2) + "\n")
            if bar is not None:
                bar(status=f"epoch {epoch + 1} loss {np.mean(losses):.4f} "
                           f"val mIoU {miou:.3f}")
            if cut_short or stale >= cfg.patience or (cfg.max_steps is not None
                                                       and step >= cfg.max_steps):
                break
    return TrainResult(step, epochs_done, best, start_step, history)
