"""Convolutional GRU cell: the temporal memory on each skip connection of the hourglass."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    """Return a 3x3 'same' convolution with He (fan-in) init and zero bias, as in the reference."""
    conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
    nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
    nn.init.zeros_(conv.bias)
    return conv


class ConvGRU(nn.Module):
    """ConvGRU with a ReLU candidate; its output is its new hidden state."""

    def __init__(self, in_channels: int, hidden_channels: int) -> None:
        """Build separate reset, update and candidate convolutions over [input, hidden]."""
        super().__init__()
        self.hidden_channels = hidden_channels
        self.reset = conv3x3(in_channels + hidden_channels, hidden_channels)
        self.update = conv3x3(in_channels + hidden_channels, hidden_channels)
        self.candidate = conv3x3(in_channels + hidden_channels, hidden_channels)
        # Zero gates (the MICCAI code's choice): r = u = 0.5 at the start, so every cell begins by
        # averaging old state and candidate and the gates learn away from that neutral point.
        for gate in (self.reset, self.update):
            nn.init.zeros_(gate.weight)

    def forward(self, x: Tensor, h: Tensor | None) -> Tensor:
        """Return the new hidden state (B, hidden, H, W) from x (B, in, H, W); None means zeros."""
        if h is None:
            h = x.new_zeros(x.shape[0], self.hidden_channels, *x.shape[2:])
        xh = torch.cat([x, h], dim=1)  # (B, in + hidden, H, W)
        r = torch.sigmoid(self.reset(xh))
        u = torch.sigmoid(self.update(xh))
        y = F.relu(self.candidate(torch.cat([x, r * h], dim=1)))  # cat: (B, in + hidden, H, W)
        return u * h + (1 - u) * y
