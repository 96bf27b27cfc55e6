"""What every simulated sequence gives, nuclei or rods: frames, generator and summary."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class SimFrame:
    """One simulated frame: the uint16 image and its full label mask (track ids, 0 = background)."""

    index: int
    image: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class SequenceSummary:
    """Statistics of one simulated sequence, for logs and checks."""

    frames: int
    tracks: int
    nuclei_per_frame: float  # cells of either kind; the name is kept for the existing records
    touching: float  # median over frames of the fraction of cells touching another
    divisions: int
    entries: int  # tracks without a parent that begin after frame 0
    exits: int  # tracks that end before the last frame without dividing


class SequenceSimulation(Protocol):
    """A simulated sequence: iterate `frames()` once, then read `tracks` and `summary()`."""

    def frames(self) -> Iterator[SimFrame]:
        """Simulate and yield the frames one at a time."""
        ...

    @property
    def tracks(self) -> np.ndarray:
        """Return the (N, 4) int64 track table L B E P, once all frames were generated."""
        ...

    def summary(self) -> SequenceSummary:
        """Return the statistics of the finished sequence."""
        ...


def sequence_rng(seed: int, sequence: int) -> np.random.Generator:
    """Return the generator of one sequence, derived from the dataset seed and sequence index."""
    return np.random.default_rng(np.random.SeedSequence([seed, sequence]))


def summarise(
    tracks: np.ndarray, counts: list[int], touching: list[float], frames: int
) -> SequenceSummary:
    """Summarise a finished sequence from its track table and per-frame cell and contact counts."""
    last = frames - 1
    mothers = set(tracks[tracks[:, 3] > 0, 3].tolist())
    ended = (tracks[:, 2] < last) & ~np.isin(tracks[:, 0], list(mothers))
    return SequenceSummary(
        frames=frames,
        tracks=len(tracks),
        nuclei_per_frame=float(np.mean(counts)),
        touching=float(np.median(touching)),
        divisions=len(mothers),
        entries=int(np.sum((tracks[:, 3] == 0) & (tracks[:, 1] > 0))),
        exits=int(np.sum(ended)),
    )
