"""One simulated sequence of a growing bacterial microcolony in phase contrast, frame by frame.

A few rods near the frame centre grow exponentially, divide across their middle and push each
other into a packed, expanding colony: sparse in the first frames, covering much of the field in
the last ones. Rods that leave the frame end their tracks (and are forgotten once far outside).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from cosinetrack.config.sections import SimConfig
from cosinetrack.simulate.lineage import TrackBook, touching_fraction
from cosinetrack.simulate.movie import SequenceSummary, SimFrame, sequence_rng, summarise
from cosinetrack.simulate.packing import relax
from cosinetrack.simulate.phase import illumination, phase_image, render_rods
from cosinetrack.simulate.rods import Rods, divide, far_outside, grow, initial_rods

# Sweeps that settle the first rods, laid side by side with some overlap, before frame 0.
SETTLE_SWEEPS = 64


def camera_rng(seed: int, sequence: int) -> np.random.Generator:
    """The generator of a sequence's illumination and noise, apart from the colony's.

    The number of draws a Poisson sample takes depends on its means, so with one generator any
    change to the imaging would change how the colony grows.
    """
    return np.random.default_rng(np.random.SeedSequence([seed, sequence, 2]))


class Colony:
    """One simulated colony: iterate `frames()` once, then read the track table `tracks`."""

    def __init__(self, cfg: SimConfig, sequence: int) -> None:
        """Prepare sequence `sequence` (1, 2, ...) of the rods dataset described by `cfg`."""
        self.cfg = cfg
        self.sequence = sequence
        self._tracks: np.ndarray | None = None
        self.counts: list[int] = []  # labelled rods per frame
        self.touching: list[float] = []  # touching fraction per frame
        self.divisions = 0

    @property
    def tracks(self) -> np.ndarray:
        """Return the (N, 4) int64 track table L B E P; only after all frames were generated."""
        if self._tracks is None:
            raise RuntimeError("the track table is known only after frames() has been exhausted")
        return self._tracks

    def frames(self) -> Iterator[SimFrame]:
        """Simulate and yield the frames one at a time, so memory stays bounded by a frame."""
        cfg = self.cfg
        shape = (cfg.height, cfg.width)
        self._tracks, self.counts, self.touching, self.divisions = None, [], [], 0
        rng, camera = sequence_rng(cfg.seed, self.sequence), camera_rng(cfg.seed, self.sequence)
        light = illumination(camera, shape)
        rods = initial_rods(rng, cfg)
        relax(rods, SETTLE_SWEEPS)
        book = TrackBook()
        for t in range(cfg.frames):
            if t > 0:
                rods = self._advance(rods, rng)
            owner, thickness = render_rods(rods, shape)
            counts = np.bincount(owner.ravel(), minlength=len(rods) + 1)[1:]
            labels = book.update(rods, counts, t, cfg.min_size)[owner]
            self.counts.append(int(np.count_nonzero(np.unique(labels))))
            self.touching.append(touching_fraction(labels))
            yield SimFrame(t, phase_image(thickness, light, camera), labels)
        self._tracks = book.table()

    def _advance(self, rods: Rods, rng: np.random.Generator) -> Rods:
        """Advance the colony by one frame: growth, divisions, packing, and forgetting far rods."""
        grow(rods, rng)
        rods, divided = divide(rods, rng, self.cfg)
        self.divisions += divided
        relax(rods)
        margin = float(rods.division_length.max(initial=0.0))
        return rods.take(~far_outside(rods, self.cfg.height, self.cfg.width, margin))

    def summary(self) -> SequenceSummary:
        """Return the statistics of the finished sequence."""
        return summarise(self.tracks, self.counts, self.touching, self.cfg.frames)
