"""Baselines from segmentation-models-pytorch on the same MobileNetV4-S encoder (timm, via
smp's "tu-" prefix, random init, two input channels). Their decoders need sizes divisible by
32; inputs are padded to that and the logits cropped back."""

from __future__ import annotations

import segmentation_models_pytorch as smp
from torch import nn

from sorter.models.layers import PadToMultiple
from sorter.models.registry import register_model

SMP_ENCODER = "tu-mobilenetv4_conv_small"


@register_model("smp_deeplabv3plus", "smp DeepLabV3+ on MobileNetV4-S (baseline)",
                encoder_name=SMP_ENCODER)
def smp_deeplabv3plus(in_channels: int, num_classes: int, encoder_name: str) -> nn.Module:
    return PadToMultiple(smp.DeepLabV3Plus(encoder_name=encoder_name, encoder_weights=None,
                                           in_channels=in_channels, classes=num_classes))


@register_model("smp_unet", "smp U-Net on MobileNetV4-S (baseline)", encoder_name=SMP_ENCODER)
def smp_unet(in_channels: int, num_classes: int, encoder_name: str) -> nn.Module:
    return PadToMultiple(smp.Unet(encoder_name=encoder_name, encoder_weights=None,
                                  in_channels=in_channels, classes=num_classes))
