"""Weights on disk with their model card: `save_checkpoint` writes `<path>` (the state dict)
and `<path>.card.json`; `load_checkpoint` rebuilds the registered model from the card and
refuses weights that do not match their card, or input channels or a pixel pitch the model
was not trained on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from sorter.models.card import ModelCard, read_card
from sorter.models.registry import create_model


def save_checkpoint(model: nn.Module, card: ModelCard, path: str | Path) -> ModelCard:
    """Write the model's state dict to `path` and the card (with the weights' checksum and,
    when the card has none, the config the registry built the model with) next to it; returns
    the card as written. A model built by create_model must match the card's name."""
    name = getattr(model, "registry_name", card.name)
    if name != card.name:
        raise ValueError(f"the card names model {card.name!r}, the model is {name!r}")
    if not card.config:
        card = replace(card, config=dict(getattr(model, "registry_config", {})))
    path = Path(path)
    torch.save(model.state_dict(), path)
    return card.save_for(path)


def load_checkpoint(path: str | Path, channels: Sequence[str] | int | None = None,
                    pitch_m: float | None = None) -> tuple[nn.Module, ModelCard]:
    """The registered model named by the card next to `path`, built with the card's config and
    the stored weights, in eval mode; ValueError when the card is missing or refuses the
    weights, the channels or the pitch."""
    card = read_card(path, channels=channels, pitch_m=pitch_m)
    model = create_model(card.name, **card.config)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval(), card
