"""Model registry: `register_model(name)` decorates a builder, `create_model(name, **kwargs)`
builds it with its default config updated by kwargs, `list_models()` names what is there.

Every entry segments the two attenuation images (input channels: low, high) into the four
classes instance extraction needs (background, interior, boundary, overlap)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

INPUT_CHANNELS = 2  # low- and high-energy attenuation
CLASSES = ("background", "interior", "boundary", "overlap")

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Builder
    default_config: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def build(self, **overrides: Any) -> nn.Module:
        unknown = set(overrides) - set(self.default_config)
        if unknown:
            raise TypeError(f"model {self.name!r} has no option(s) {sorted(unknown)}; "
                            f"options: {sorted(self.default_config)}")
        config = {**self.default_config, **overrides}
        model = self.builder(**config)
        # what a checkpoint needs to rebuild it (sorter.models.checkpoint)
        vars(model).update(registry_name=self.name, registry_config=config)
        return model

    def parameter_count(self, **overrides: Any) -> int:
        """Parameters of the model built with this config (builds it, random weights)."""
        return count_parameters(self.build(**overrides))


_REGISTRY: dict[str, ModelEntry] = {}
_BASE_CONFIG: dict[str, Any] = {"in_channels": INPUT_CHANNELS, "num_classes": len(CLASSES)}


def register_model(name: str, description: str = "",
                   **default_config: Any) -> Callable[[Builder], Builder]:
    """Decorator: register `builder` under `name`; `default_config` is passed to it by
    create_model (in_channels and num_classes default to 2 and 4)."""

    def decorate(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        doc = description or (builder.__doc__ or "").strip().split("\n")[0]
        _REGISTRY[name] = ModelEntry(name, builder, {**_BASE_CONFIG, **default_config}, doc)
        return builder

    return decorate


def _load_builtin() -> None:
    # The built-in entries register themselves on import.
    from sorter.models import baselines, mineral_deeplab  # noqa: F401


def list_models() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(sorted(_REGISTRY))}") \
            from None


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """The registered model `name`, its default config updated by kwargs (random weights)."""
    return get_entry(name).build(**kwargs)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
