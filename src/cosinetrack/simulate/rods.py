"""Rod-shaped bacteria as capsules: their state, exponential growth and division across the middle.

A rod is a spherocylinder: the points within half its width of a segment (its axis) that runs
along its orientation. Its length is measured tip to tip, so the axis is `length - width` long.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from cosinetrack.config.sections import SimConfig

WIDTH_SPREAD = 0.05  # lognormal spread of the width between lineages
GROWTH_SPREAD = 0.1  # lognormal spread of the growth rate between rods
DIVISION_SPREAD = 0.08  # relative spread of the length at which a rod divides
ANGLE_NOISE = 0.02  # radians of random turning per frame: a straight chain of rods buckles
DAUGHTER_ANGLE_NOISE = 0.03  # radians between a daughter's axis and its mother's


@dataclass
class Rods:
    """State of all simulated rods, one row per rod, as parallel arrays."""

    centre: np.ndarray  # (N, 2) float, (y, x) in pixels of the frame (pixel centres at integers)
    angle: np.ndarray  # (N,) orientation of the long axis, radians from the x axis
    length: np.ndarray  # (N,) tip-to-tip length in pixels
    width: np.ndarray  # (N,) capsule diameter in pixels
    growth: np.ndarray  # (N,) relative length growth per frame
    division_length: np.ndarray  # (N,) length at which the rod divides
    track: np.ndarray  # (N,) int64 track id while visible, else 0
    parent: np.ndarray  # (N,) int64 mother's track id for daughters not yet rendered, else 0
    pixels: np.ndarray  # (N,) int64 pixels shown in the last rendered frame

    def __len__(self) -> int:
        """Return the number of rods."""
        return len(self.length)

    def take(self, index: np.ndarray) -> Rods:
        """Return the rods selected by a boolean mask or index array."""
        return Rods(**{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)})

    def extend(self, other: Rods) -> Rods:
        """Return these rods followed by `other`."""
        return Rods(
            **{
                f.name: np.concatenate([getattr(self, f.name), getattr(other, f.name)])
                for f in dataclasses.fields(self)
            }
        )


def axis(angle: np.ndarray) -> np.ndarray:
    """Return the unit vectors (N, 2) as (y, x) along the long axes at `angle`."""
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1)


def half_axis(rods: Rods) -> np.ndarray:
    """Return each rod's half axis (N,): from its centre to the centre of a pole cap."""
    return np.maximum(rods.length - rods.width, 0.0) / 2


def poles(rods: Rods) -> tuple[np.ndarray, np.ndarray]:
    """Return the two ends (N, 2) of each rod's axis segment, (y, x)."""
    offset = half_axis(rods)[:, None] * axis(rods.angle)
    return rods.centre - offset, rods.centre + offset


def division_lengths(rng: np.random.Generator, n: int, cfg: SimConfig) -> np.ndarray:
    """Draw the lengths at which n rods will divide: about twice the birth length (a sizer)."""
    spread = np.clip(rng.normal(1.0, DIVISION_SPREAD, n), 0.8, 1.2)
    return 2 * cfg.birth_length * spread


def growth_rates(rng: np.random.Generator, n: int, cfg: SimConfig) -> np.ndarray:
    """Draw n rods' relative length growth per frame around the configured rate."""
    return cfg.growth_rate * np.clip(rng.lognormal(0.0, GROWTH_SPREAD, n), 0.7, 1.4)


def new_rods(
    rng: np.random.Generator,
    centre: np.ndarray,
    angle: np.ndarray,
    length: np.ndarray,
    width: np.ndarray,
    cfg: SimConfig,
) -> Rods:
    """Create rods at the given centres, orientations and sizes, with fresh cell-cycle draws."""
    n = len(length)
    zeros = np.zeros(n, dtype=np.int64)
    return Rods(
        centre=np.asarray(centre, float).reshape(n, 2),
        angle=np.asarray(angle, float),
        length=np.asarray(length, float),
        width=np.asarray(width, float),
        growth=growth_rates(rng, n, cfg),
        division_length=division_lengths(rng, n, cfg),
        track=zeros.copy(),
        parent=zeros.copy(),
        pixels=zeros.copy(),
    )


def initial_rods(rng: np.random.Generator, cfg: SimConfig) -> Rods:
    """Lay `cfg.initial_cells` roughly parallel rods side by side about the frame centre.

    Each starts at a random point of its cell cycle, so divisions do not come in synchronous waves.
    """
    n = cfg.initial_cells
    heading = rng.uniform(0.0, np.pi)
    width = cfg.rod_width * np.clip(rng.lognormal(0.0, WIDTH_SPREAD, n), 0.85, 1.15)
    division = division_lengths(rng, n, cfg)
    length = np.maximum(division * 2.0 ** -rng.uniform(0.0, 1.0, n), 1.05 * width)
    across = (np.arange(n) - (n - 1) / 2) * 0.9 * cfg.rod_width  # side by side, pressed
    along = rng.uniform(-0.25, 0.25, n) * cfg.birth_length
    normal = axis(np.array([heading + np.pi / 2]))[0]
    centre = (
        np.array([(cfg.height - 1) / 2, (cfg.width - 1) / 2])
        + across[:, None] * normal
        + along[:, None] * axis(np.array([heading]))[0]
    )
    angle = heading + rng.normal(0.0, 0.15, n)
    rods = new_rods(rng, centre, angle, length, width, cfg)
    rods.division_length = division
    return rods


def grow(rods: Rods, rng: np.random.Generator) -> None:
    """Lengthen every rod by its growth rate and let its orientation wander a little."""
    rods.length = rods.length * np.exp(rods.growth)
    rods.angle = rods.angle + rng.normal(0.0, ANGLE_NOISE, len(rods))


def divide(rods: Rods, rng: np.random.Generator, cfg: SimConfig) -> tuple[Rods, int]:
    """Split each rod grown to its division length across its middle into two half-length rods.

    The daughters lie end to end where the mother was and keep its axis and width.
    """
    dividing = rods.length >= rods.division_length
    if not dividing.any():
        return rods, 0
    mothers = rods.take(dividing)
    m = len(mothers)
    offset = (mothers.length / 4)[:, None] * axis(mothers.angle)  # (m, 2)
    centre = np.concatenate([mothers.centre - offset, mothers.centre + offset])
    angle = np.tile(mothers.angle, 2) + rng.normal(0.0, DAUGHTER_ANGLE_NOISE, 2 * m)
    length = np.tile(mothers.length / 2, 2)
    daughters = new_rods(rng, centre, angle, length, np.tile(mothers.width, 2), cfg)
    daughters.parent = np.tile(mothers.track, 2)
    return rods.take(~dividing).extend(daughters), m


def far_outside(rods: Rods, height: int, width: int, margin: float) -> np.ndarray:
    """Tell which rods lie wholly more than `margin` pixels outside the frame (never seen again)."""
    y, x = rods.centre[:, 0], rods.centre[:, 1]
    beyond = np.maximum.reduce([-y, -x, y - (height - 1), x - (width - 1)])
    return beyond > margin + rods.length / 2
