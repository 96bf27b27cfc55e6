"""One simulated nuclei sequence: frames made one at a time, with its track table and summary."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from cosinetrack.config.sections import SimConfig
from cosinetrack.simulate.colony import Colony
from cosinetrack.simulate.lineage import TrackBook, touching_fraction
from cosinetrack.simulate.motion import (
    SPEED,
    balance_density,
    divide,
    drift_shapes,
    expand,
    initial_nuclei,
    move,
)
from cosinetrack.simulate.movie import (
    SequenceSimulation,
    SequenceSummary,
    SimFrame,
    sequence_rng,
    summarise,
)
from cosinetrack.simulate.nuclei import Geometry, Nuclei
from cosinetrack.simulate.render import background_field, form_image, render

# Frames of motion before frame 0, so the first frame already shows pressed clusters.
WARMUP_FRAMES = 30


class Simulation:
    """One simulated sequence: iterate `frames()` once, then read the track table `tracks`."""

    def __init__(self, cfg: SimConfig, sequence: int) -> None:
        """Prepare sequence `sequence` (1, 2, ...) of the dataset described by `cfg`."""
        self.cfg = cfg
        self.sequence = sequence
        self._tracks: np.ndarray | None = None
        self.counts: list[int] = []  # labelled nuclei per frame
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
        cfg, geo = self.cfg, Geometry.of(self.cfg)
        self._tracks, self.counts, self.touching, self.divisions = None, [], [], 0
        rng = sequence_rng(cfg.seed, self.sequence)
        speed = SPEED * cfg.radius
        background = background_field(rng, (cfg.height, cfg.width))
        nuc = initial_nuclei(rng, cfg, geo)
        for _ in range(WARMUP_FRAMES):
            move(nuc, rng, geo, speed)
            drift_shapes(nuc, rng)
        book = TrackBook()
        for t in range(cfg.frames):
            if t > 0:
                nuc = self._advance(nuc, rng, geo, speed)
            owner, signal = render(nuc, geo)
            counts = np.bincount(owner.ravel(), minlength=len(nuc) + 1)[1:]
            labels = book.update(nuc, counts, t, cfg.min_size)[owner]
            self.counts.append(int(np.count_nonzero(np.unique(labels))))
            self.touching.append(touching_fraction(labels))
            yield SimFrame(t, form_image(signal, background, rng), labels)
        self._tracks = book.table()

    def _advance(
        self, nuc: Nuclei, rng: np.random.Generator, geo: Geometry, speed: float
    ) -> Nuclei:
        """Advance the nuclei by one frame: motion, shape drift, divisions and density balance."""
        move(nuc, rng, geo, speed)
        expand(nuc, geo, self.cfg.density)
        drift_shapes(nuc, rng)
        nuc, divided = divide(nuc, rng, geo, self.cfg.division_rate, speed)
        self.divisions += divided
        return balance_density(nuc, rng, geo, self.cfg)

    def summary(self) -> SequenceSummary:
        """Return the statistics of the finished sequence."""
        return summarise(self.tracks, self.counts, self.touching, self.cfg.frames)


def simulate_sequence(cfg: SimConfig, sequence: int) -> SequenceSimulation:
    """Return the simulation of sequence `sequence` (1, 2, ...); iterate its `frames()` once.

    `cfg.cells` picks the kind: wandering fluorescent nuclei, or a growing colony of rods.
    """
    if cfg.cells == "rods":
        return Colony(cfg, sequence)
    return Simulation(cfg, sequence)
