"""Building blocks shared by the registered models: conv-BN-ReLU, cross-shaped stripe
attention and input padding to a multiple of the encoder's stride."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvBnAct(nn.Sequential):
    """Convolution, batch norm, ReLU; `separable`: a depthwise convolution (with its own batch
    norm and ReLU) followed by the 1x1 one, the atrous separable convolution of DeepLabV3+."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, dilation: int = 1,
                 separable: bool = False) -> None:
        pad = dilation * (kernel - 1) // 2
        layers: list[nn.Module] = []
        if separable and kernel > 1:
            layers += [nn.Conv2d(cin, cin, kernel, padding=pad, dilation=dilation, groups=cin,
                                 bias=False), nn.BatchNorm2d(cin), nn.ReLU(inplace=True)]
            kernel, pad, dilation = 1, 0, 1
        layers += [nn.Conv2d(cin, cout, kernel, padding=pad, dilation=dilation, bias=False),
                   nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        super().__init__(*layers)


def _stripe_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                      width: int) -> torch.Tensor:
    """Self-attention within horizontal stripes `width` rows high.
    q, k, v: (B, heads, d, H, W), H a multiple of width; returns the same shape."""
    b, heads, d, h, w = q.shape
    n = h // width

    def tokens(t: torch.Tensor) -> torch.Tensor:
        # (B, heads, d, n, width, W) -> (B, n, heads, width*W, d)
        t = t.reshape(b, heads, d, n, width, w).permute(0, 3, 1, 4, 5, 2)
        return t.reshape(b * n, heads, width * w, d)

    out = F.scaled_dot_product_attention(tokens(q), tokens(k), tokens(v))
    out = out.reshape(b, n, heads, width, w, d).permute(0, 2, 5, 1, 3, 4)
    return out.reshape(b, heads, d, h, w)


class CrossStripeAttention(nn.Module):
    """Cross-shaped window self-attention after the CSWin transformer (Dong et al. 2022, see
    docs/references.md): half of the heads attend within horizontal stripes, the other half
    within vertical stripes, in parallel, so every position sees its row band and column band.
    A depthwise 3x3 convolution of the values adds the local positional term (LePE). Used as a
    residual block: x + proj(attention(norm(x))), the residual scale starting at zero so that
    a new block starts as the identity."""

    def __init__(self, channels: int, heads: int = 4, stripe_width: int = 1) -> None:
        super().__init__()
        if heads < 2 or heads % 2:
            raise ValueError(f"heads must be even and >= 2 (half per direction), got {heads}")
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be a multiple of heads ({heads})")
        self.heads = heads
        self.stripe_width = stripe_width
        self.norm = nn.BatchNorm2d(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1, bias=False)
        self.lepe = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.proj = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        sw = self.stripe_width
        q, k, v = self.qkv(self.norm(x)).chunk(3, dim=1)
        lepe = self.lepe(v)
        pad_h, pad_w = (-h) % sw, (-w) % sw
        if pad_h or pad_w:
            q, k, v = (F.pad(t, (0, pad_w, 0, pad_h)) for t in (q, k, v))
        hp, wp = h + pad_h, w + pad_w
        half = self.heads // 2
        d = c // self.heads
        q, k, v = (t.reshape(b, self.heads, d, hp, wp) for t in (q, k, v))
        rows = _stripe_attention(q[:, :half], k[:, :half], v[:, :half], sw)
        qt, kt, vt = (t[:, half:].transpose(-1, -2) for t in (q, k, v))
        cols = _stripe_attention(qt, kt, vt, sw)
        out = torch.cat([rows, cols.transpose(-1, -2)], dim=1).reshape(b, c, hp, wp)
        out = out[:, :, :h, :w] + lepe
        return x + self.gamma * self.proj(out)


class PadToMultiple(nn.Module):
    """Runs `inner` on the input padded (replicate) to a multiple of `multiple` on H and W,
    and crops the output back: for decoders that need sizes divisible by their stride."""

    def __init__(self, inner: nn.Module, multiple: int = 32) -> None:
        super().__init__()
        self.inner = inner
        self.multiple = multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pad_h, pad_w = (-h) % self.multiple, (-w) % self.multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        out: torch.Tensor = self.inner(x)
        return out[..., :h, :w]
