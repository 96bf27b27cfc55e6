"""Recurrent stacked hourglass network, run one frame at a time or unrolled over a clip."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cosinetrack.config.sections import ModelConfig
from cosinetrack.model.hourglass import Hourglass


@dataclass(frozen=True)
class State:
    """Recurrent memory between frames: hidden[stack][level] is (B, filters, Hp/2**l, Wp/2**l).

    Hp, Wp are the frame size padded to a multiple of 2**(levels-1), so a state only fits frames of
    the size it was made with.
    """

    hidden: list[list[Tensor]]


class StackedHourglass(nn.Module):
    """Stacked recurrent hourglasses; stack k>1 sees the image and stack k-1's unit embeddings."""

    def __init__(
        self,
        levels: int = 5,
        filters: int = 32,
        embedding_dim: int = 16,
        stacks: int = 2,
        norm: str = "none",
        recurrent: bool = True,
        in_channels: int = 1,
    ) -> None:
        """Build `stacks` hourglasses with separate weights; kwargs mirror `ModelConfig`."""
        super().__init__()
        self.levels = levels
        self.hourglasses = nn.ModuleList(
            Hourglass(
                in_channels if stack == 0 else in_channels + embedding_dim,
                levels,
                filters,
                embedding_dim,
                norm,
                recurrent,
            )
            for stack in range(stacks)
        )

    @classmethod
    def from_config(cls, cfg: ModelConfig) -> StackedHourglass:
        """Build the network described by a `ModelConfig` (as stored in a checkpoint)."""
        return cls(**cfg.model_dump())

    def step(self, frame: Tensor, state: State | None) -> tuple[list[Tensor], State]:
        """Embed one frame (B, C, H, W); return raw (B, D, H, W) per stack and the next state.

        `state` None means zero memory (the first frame of a sequence).
        """
        height, width = frame.shape[-2:]
        multiple = 2 ** (self.levels - 1)
        # Replicate padding works for any pad width (reflect needs pad < size) and, unlike
        # mirroring, invents no mirrored nuclei near the edge for the memory to track.
        pad = (0, -width % multiple, 0, -height % multiple)
        image = F.pad(frame, pad, mode="replicate")  # (B, C, Hp, Wp)
        x = image
        outputs, hidden = [], []
        for stack, hourglass in enumerate(self.hourglasses):
            embedding, skips = hourglass(x, None if state is None else state.hidden[stack])
            outputs.append(embedding[..., :height, :width])  # (B, D, H, W)
            hidden.append(skips)
            x = torch.cat([image, F.normalize(embedding, dim=1)], dim=1)  # (B, C + D, Hp, Wp)
        return outputs, State(hidden)

    def forward(self, clip: Tensor) -> list[Tensor]:
        """Embed a clip (B, T, C, H, W) from zero memory; return raw (B, T, D, H, W) per stack."""
        state = None
        frames = []
        for t in range(clip.shape[1]):
            outputs, state = self.step(clip[:, t], state)
            frames.append(outputs)
        # frames[t][stack] is (B, D, H, W); regroup by stack into (B, T, D, H, W).
        return [torch.stack(per_stack, dim=1) for per_stack in zip(*frames, strict=True)]
