"""Cosine embedding loss (Payer et al. 2018): pull pixels to their track's mean, push neighbours.

An instance is one label over all frames of a clip, so each track gets one mean direction per clip;
this is what teaches the network to keep a cell's embedding over time. The background is one more
instance whose mean is taken over the pixels certain to be background (all unlabelled pixels of a
frame where every cell has a mask; around a cell known only by its marker, those farther than a
margin from it), and whose neighbours are all labelled pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor

EPS = 1e-6
"""Smallest norm an embedding or mean is divided by; zero vectors stay zero instead of NaN."""


@dataclass(frozen=True)
class LossTerms:
    """Scalar loss terms; `total` = instance pull + push + background pull + push."""

    instance_pull: Tensor
    instance_push: Tensor
    background_pull: Tensor
    background_push: Tensor
    total: Tensor

    def __add__(self, other: LossTerms) -> LossTerms:
        """Add term by term (to sum the stacks)."""
        return LossTerms(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def as_floats(self) -> dict[str, float]:
        """Return the terms as plain floats, for logging."""
        return {f.name: getattr(self, f.name).item() for f in fields(self)}


def _clip_terms(
    embeddings: Tensor, instances: Tensor, neighbours: Tensor, background: Tensor, valid: Tensor
) -> Tensor:
    """Return (instance pull, instance push, background pull, background push) of one clip."""
    dim = embeddings.shape[1]
    count = neighbours.shape[0]  # K + 1
    e = embeddings.movedim(1, -1).reshape(-1, dim)  # (P, D), P = T * H * W
    e_unit = F.normalize(e, dim=1, eps=EPS)  # (P, D)
    labels = instances.reshape(-1)  # (P,)
    known = (valid & background).reshape(-1)  # (P,) pixels certain to be background
    valid = valid.reshape(-1)  # (P,)

    # Row 0 is the certain background only; rows 1..K are the tracks over the clip.
    ids = torch.arange(count, device=labels.device)[:, None]  # (K + 1, 1)
    masks = (labels == ids) & valid  # (K + 1, P)
    masks[0] &= known
    masks = masks.to(e.dtype)
    sizes = masks.sum(1)  # (K + 1,)
    means = F.normalize(masks @ e / sizes.clamp(min=1)[:, None], dim=1, eps=EPS)  # (K + 1, D)
    cos = e_unit @ means.T  # (P, K + 1): cosine of every pixel to every mean
    # summed[j, i] = sum over pixels p of j of cos(p, i), and the same for cos^2.
    summed = masks @ cos  # (K + 1, K + 1)
    summed_sq = masks @ cos.square()  # (K + 1, K + 1)

    pull = (sizes - summed.diagonal()) / sizes.clamp(min=1)  # (K + 1,)
    adjacent = neighbours.clone()
    adjacent[0, :] = adjacent[:, 0] = False  # the background is handled below
    adjacent = adjacent.to(e.dtype)  # (K + 1, K + 1)
    push = (adjacent * summed_sq.T).sum(1) / (adjacent @ sizes).clamp(min=1)  # (K + 1,)

    present = (sizes[1:] > 0).to(e.dtype)  # (K,)
    n_present = present.sum().clamp(min=1)
    instance_pull = (pull[1:] * present).sum() / n_present
    instance_push = (push[1:] * present).sum() / n_present

    # Background: pull its pixels to its mean, push every labelled pixel away from it.
    foreground = ((labels > 0) & valid).to(e.dtype)  # (P,)
    background_push = foreground @ cos[:, 0].square() / foreground.sum().clamp(min=1)
    return torch.stack([instance_pull, instance_push, pull[0], background_push])


def cosine_embedding_loss(
    embeddings: Tensor,
    instances: Tensor,
    neighbours: Tensor,
    background: Tensor,
    valid: Tensor | None = None,
) -> LossTerms:
    """Cosine embedding loss of one stack's raw output, averaged over the batch.

    Args:
        embeddings: raw network output (B, T, D, H, W); computed in float32.
        instances: labels (B, T, H, W) int64, 0 = background, 1..K = one label per track.
        neighbours: (B, K + 1, K + 1) bool, [b, i, j] = instance j is a neighbour of i; row and
            column 0 are ignored.
        background: (B, T, H, W) bool, pixels certain to be background; label-0 pixels outside
            it (near a cell whose outline is unknown) are neither instance nor background.
        valid: optional (B, T, H, W) bool; pixels outside are ignored everywhere (e.g. padding).

    Returns:
        The terms; empty instances, clips without known background and zero embeddings give
        finite values and gradients.
    """
    if valid is None:
        valid = torch.ones_like(instances, dtype=torch.bool)
    # Sums over ~10^5 pixels need float32 even when the network runs under autocast.
    with torch.autocast(embeddings.device.type, enabled=False):
        terms = torch.stack(
            [
                _clip_terms(e, i, n, b, v)
                for e, i, n, b, v in zip(
                    embeddings.float(), instances, neighbours, background, valid, strict=True
                )
            ]
        ).mean(0)  # (4,)
    return LossTerms(*terms, total=terms.sum())


def stacked_loss(
    outputs: list[Tensor],
    instances: Tensor,
    neighbours: Tensor,
    background: Tensor,
    valid: Tensor | None = None,
) -> LossTerms:
    """Sum the loss over stacks (all supervised, equal weight); each term is the sum over stacks."""
    losses = [cosine_embedding_loss(e, instances, neighbours, background, valid) for e in outputs]
    return sum(losses[1:], start=losses[0])
