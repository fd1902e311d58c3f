"""Mineral-DeepLabV3+ (Yu et al., see docs/references.md), implemented here from the paper's
description: a MobileNetV4 encoder (timm, random init, two input channels), a controllable
ASPP ("S-ASPP": a 1x1 branch, 3x3 atrous branches at dilations 3, 9, 15 and an image-pooling
branch, with a learned softmax-weighted selection among the branches before their fusion),
cross-shaped stripe attention after the ASPP and on the shallow features, and the DeepLabV3+
decoder (Chen et al. 2018: atrous separable convolutions in the ASPP and decoder, upsampled
deep features concatenated with projected stride-4 features, two 3x3 convolutions, a 1x1
classifier, upsampling to the input size).

Any input size works: the encoder's strided convolutions round up, the decoder resizes to the
shallow feature's size and the logits to the input's.

`selection=False` makes the ASPP a plain concatenation of its branches and `attention=False`
drops both attention blocks (the paper's ablation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import timm
import torch
import torch.nn.functional as F
from torch import nn

from sorter.models.layers import ConvBnAct, CrossStripeAttention
from sorter.models.registry import register_model


class SelectiveASPP(nn.Module):
    """Atrous spatial pyramid pooling with a learned selection among its branches: the branch
    outputs are scaled by softmax(logits) x number of branches (all ones at the start) before
    the 1x1 fusion, so training can turn branches up or down. Without selection it is the
    standard ASPP."""

    def __init__(self, cin: int, cout: int, dilations: Sequence[int] = (3, 9, 15),
                 selection: bool = True, separable: bool = True) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            [ConvBnAct(cin, cout, 1)]
            + [ConvBnAct(cin, cout, 3, dilation=d, separable=separable) for d in dilations])
        # image pooling: no batch norm on a 1x1 map (a batch of one would have no variance)
        self.pooling = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1),
                                     nn.ReLU(inplace=True))
        n = len(self.branches) + 1
        self.selection_logits = nn.Parameter(torch.zeros(n)) if selection else None
        self.fuse = nn.Sequential(ConvBnAct(n * cout, cout, 1), nn.Dropout(0.1))

    def branch_weights(self) -> torch.Tensor | None:
        """The current selection weights (sum to the number of branches), or None."""
        if self.selection_logits is None:
            return None
        return torch.softmax(self.selection_logits, 0) * self.selection_logits.numel()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [branch(x) for branch in self.branches]
        pooled = self.pooling(x)
        outs.append(pooled.expand(-1, -1, x.shape[-2], x.shape[-1]))
        weights = self.branch_weights()
        if weights is not None:
            outs = [o * weights[i] for i, o in enumerate(outs)]
        return self.fuse(torch.cat(outs, dim=1))


class MineralDeepLabV3Plus(nn.Module):
    def __init__(self, encoder: str = "mobilenetv4_conv_medium", in_channels: int = 2,
                 num_classes: int = 4, output_stride: int = 16,
                 dilations: Sequence[int] = (3, 9, 15), aspp_channels: int = 256,
                 shallow_channels: int = 48, decoder_channels: int = 256,
                 selection: bool = True, attention: bool = True, attention_heads: int = 4,
                 separable: bool = True,
                 deep_stripe_width: int = 2, shallow_stripe_width: int = 1) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.encoder = timm.create_model(encoder, pretrained=False, features_only=True,
                                         in_chans=in_channels, output_stride=output_stride)
        info: Any = self.encoder.feature_info
        reductions, channels = list(info.reduction()), list(info.channels())
        self.shallow_index = reductions.index(4)
        deep_channels = channels[-1]
        self.aspp = SelectiveASPP(deep_channels, aspp_channels, dilations, selection,
                                  separable)
        self.deep_attention: nn.Module = (
            CrossStripeAttention(aspp_channels, attention_heads, deep_stripe_width)
            if attention else nn.Identity())
        self.shallow = ConvBnAct(channels[self.shallow_index], shallow_channels, 1)
        self.shallow_attention: nn.Module = (
            CrossStripeAttention(shallow_channels, attention_heads, shallow_stripe_width)
            if attention else nn.Identity())
        self.decoder = nn.Sequential(
            ConvBnAct(aspp_channels + shallow_channels, decoder_channels, 3,
                      separable=separable),
            ConvBnAct(decoder_channels, decoder_channels, 3, separable=separable),
        )
        self.classifier = nn.Conv2d(decoder_channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        features = self.encoder(x)
        deep = self.deep_attention(self.aspp(features[-1]))
        shallow = self.shallow_attention(self.shallow(features[self.shallow_index]))
        deep = F.interpolate(deep, size=shallow.shape[-2:], mode="bilinear", align_corners=False)
        logits = self.classifier(self.decoder(torch.cat([deep, shallow], dim=1)))
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


@register_model("mineral_deeplabv3plus",
                "Mineral-DeepLabV3+ (Yu et al.): MobileNetV4-M, S-ASPP (3, 9, 15), stripe "
                "attention, DeepLabV3+ decoder",
                encoder="mobilenetv4_conv_medium", aspp_channels=256, shallow_channels=48,
                decoder_channels=256, selection=True, attention=True)
def mineral_deeplabv3plus(**config: object) -> MineralDeepLabV3Plus:
    return MineralDeepLabV3Plus(**config)  # type: ignore[arg-type]


@register_model("mineral_deeplabv3plus_small",
                "Mineral-DeepLabV3+ for the CPU: MobileNetV4-S, 64-channel ASPP and decoder",
                encoder="mobilenetv4_conv_small", aspp_channels=64, shallow_channels=32,
                decoder_channels=64, selection=True, attention=True)
def mineral_deeplabv3plus_small(**config: object) -> MineralDeepLabV3Plus:
    return MineralDeepLabV3Plus(**config)  # type: ignore[arg-type]
