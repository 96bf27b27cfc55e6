"""One recurrent hourglass: a U-Net-like encoder/decoder whose skip connections are ConvGRUs."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from cosinetrack.model.convgru import ConvGRU, conv3x3


def conv_block(in_channels: int, out_channels: int, norm: str) -> nn.Module:
    """A 3x3 convolution, followed by group normalisation when `norm` is 'group'.

    The reference has no normalisation; group normalisation (groups of 4 channels, independent of
    the batch size of 1) makes training from scratch converge in fewer steps.
    """
    conv = conv3x3(in_channels, out_channels)
    if norm == "none":
        return conv
    return nn.Sequential(conv, nn.GroupNorm(max(1, out_channels // 4), out_channels))


class Hourglass(nn.Module):
    """Hourglass with `filters` channels on every level and one ConvGRU per level as its memory.

    Without recurrence (`recurrent=False`, still images) the skips pass through unchanged: there
    are no ConvGRU weights and the state is ignored.
    """

    def __init__(
        self,
        in_channels: int,
        levels: int,
        filters: int,
        out_channels: int,
        norm: str = "none",
        recurrent: bool = True,
    ) -> None:
        """Build the contracting, skip (ConvGRU), expanding convolutions and the linear head."""
        super().__init__()
        self.down = nn.ModuleList(
            conv_block(in_channels if level == 0 else filters, filters, norm)
            for level in range(levels)
        )
        grus = (ConvGRU(filters, filters) for _ in range(levels)) if recurrent else ()
        self.skip = nn.ModuleList(grus)
        self.up = nn.ModuleList(conv_block(filters, filters, norm) for _ in range(levels))
        self.head = conv3x3(filters, out_channels)

    def forward(self, x: Tensor, hidden: list[Tensor] | None) -> tuple[Tensor, list[Tensor]]:
        """Map x (B, C, H, W) to (B, out, H, W) and the new per-level states; None means zeros.

        H and W must be multiples of 2**(levels-1); level l's state is (B, filters, H/2**l, W/2**l).
        """
        skips = []
        for level, down in enumerate(self.down):
            if level > 0:
                x = F.max_pool2d(x, 2)
            x = F.relu(down(x))
            state = None if hidden is None else hidden[level]
            skips.append(self.skip[level](x, state) if self.skip else x)
        y = F.relu(self.up[-1](skips[-1]))
        for level in reversed(range(len(skips) - 1)):
            up = F.interpolate(y, scale_factor=2.0, mode="nearest")  # (B, F, H/2**l, W/2**l)
            y = F.relu(self.up[level](up + skips[level]))
        # The head is linear: the loss normalises, so the raw length carries no meaning.
        return self.head(y), skips
