"""Motion and life cycle of the nuclei: random walk, contact forces, growth and division."""

from __future__ import annotations

import logging

import numpy as np

from cosinetrack.config.sections import SimConfig
from cosinetrack.simulate.nuclei import (
    HARMONIC_AMPLITUDE,
    MAX_ELONGATION,
    Geometry,
    Nuclei,
    extent,
    new_nuclei,
    random_targets,
    view_distance,
)

logger = logging.getLogger(__name__)

# Substeps of the force relaxation per frame; three keep the soft contacts stable.
SUBSTEPS = 3

# --- Mechanics (dimensionless, in units of the summed radii of a pair) ---------------------------
# Pairs relax towards this centre distance / (R_i + R_j) < 1: slight overlap, so nuclei press.
CONTACT = 0.9
# Below this, repulsion stiffens so that a nucleus is never buried under its neighbours.
HARD_CONTACT = 0.72
REPULSION = 0.22
HARD_REPULSION = 0.8
# Adhesion pulls pairs whose gap is small back into contact (zero at CONTACT and at ADHESION_RANGE).
ADHESION = 0.1
ADHESION_RANGE = 1.3
# Largest expansion of the nuclei's positions per frame about the view centre (see `expand`).
MAX_EXPANSION = 0.01
# Random walk: velocity persistence per frame and its spread in mean radii per frame.
PERSISTENCE = 0.8
SPEED = 0.09

# --- Life cycle ----------------------------------------------------------------------------------
# Per-frame relaxation rate towards the target radius: a daughter regrows in about 30 frames.
GROWTH = 0.04
# A nucleus divides only once this old and this close to its target radius.
MIN_DIVISION_AGE = 10
GROWN = 0.9
DAUGHTER_BOOST = 0.4  # daughters start this much brighter (condensed chromatin) ...
BOOST_DECAY = 0.8  # ... fading by this factor per frame


def torus_delta(a: np.ndarray, b: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Return the shortest displacement from b to a on the torus (minimum image)."""
    diff = a - b
    return diff - size * np.round(diff / size)


def fits(
    candidate: np.ndarray, radius: float, pos: np.ndarray, radii: np.ndarray, size: np.ndarray
) -> bool:
    """Tell whether a new nucleus at `candidate` would overlap no existing one beyond contact."""
    if not len(pos):
        return True
    dist = np.hypot(*torus_delta(pos, candidate, size).T)
    return bool(np.all(dist >= CONTACT * (radii + radius)))


def initial_nuclei(rng: np.random.Generator, cfg: SimConfig, geo: Geometry) -> Nuclei:
    """Scatter nuclei over the torus until they cover `cfg.density` of it, none overlapping much."""
    size = geo.size
    goal = cfg.density * size.prod()
    speed = SPEED * cfg.radius
    capacity = int(goal / (np.pi * (0.7 * cfg.radius) ** 2)) + 1
    pos = np.zeros((capacity, 2))
    targets = np.zeros(capacity)
    n, covered = 0, 0.0
    for _ in range(50 * capacity):
        if covered >= goal or n == capacity:
            break
        target = float(random_targets(rng, 1, cfg.radius)[0])
        candidate = rng.uniform(0.0, 1.0, 2) * size
        if fits(candidate, target, pos[:n], targets[:n], size):
            pos[n], targets[n] = candidate, target
            n += 1
            covered += np.pi * target**2
    if covered < goal:
        logger.warning(
            "placed nuclei cover %.2f of the field, not density %.2f",
            covered / size.prod(),
            cfg.density,
        )
    # Spread the ages so that divisions happen from the start and sizes vary.
    age = rng.integers(0, 60, n)
    radius = targets[:n] * (1 - (1 - np.sqrt(0.5)) * (1 - GROWTH) ** age)
    nuc = new_nuclei(rng, pos[:n], targets[:n], radius, speed)
    nuc.age = age.astype(np.int64)
    return nuc


def pair_displacement(pos: np.ndarray, radius: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Return each nucleus' displacement by soft repulsion and short-range adhesion of all pairs."""
    diff = torus_delta(pos[:, None, :], pos[None, :, :], size)
    dist = np.hypot(diff[..., 0], diff[..., 1])
    reach = radius[:, None] + radius[None, :]
    s = dist / reach
    np.fill_diagonal(s, np.inf)
    push = REPULSION * np.clip(CONTACT - s, 0, None) + HARD_REPULSION * np.clip(
        HARD_CONTACT - s, 0, None
    )
    pull = ADHESION * np.clip(np.minimum(s - CONTACT, ADHESION_RANGE - s), 0, None)
    # Each partner moves by half of the pair's correction.
    magnitude = 0.5 * (push - pull) * reach
    unit = diff / np.maximum(dist, 1e-9)[..., None]
    return (magnitude[..., None] * unit).sum(axis=1)


def move(nuc: Nuclei, rng: np.random.Generator, geo: Geometry, speed: float) -> None:
    """Advance positions one frame: persistent random walk plus pairwise contact forces."""
    kick = np.sqrt(1 - PERSISTENCE**2) * speed
    nuc.vel = PERSISTENCE * nuc.vel + rng.normal(0.0, kick, nuc.vel.shape)
    for _ in range(SUBSTEPS):
        nuc.pos = nuc.pos + nuc.vel / SUBSTEPS + pair_displacement(nuc.pos, nuc.radius, geo.size)
    nuc.pos = np.mod(nuc.pos, geo.size)


def drift_shapes(nuc: Nuclei, rng: np.random.Generator) -> None:
    """Let outlines, orientation and size change slowly, and age the nuclei by a frame."""
    n = len(nuc)
    nuc.amp = np.clip(
        nuc.amp + 0.1 * (nuc.amp_mean - nuc.amp) + rng.normal(0.0, 0.008, (n, 3)),
        0.0,
        1.5 * HARMONIC_AMPLITUDE,
    )
    nuc.phase = nuc.phase + rng.normal(0.0, 0.06, (n, 3))
    nuc.elong = np.clip(
        nuc.elong + 0.1 * (nuc.elong_mean - nuc.elong) + rng.normal(0.0, 0.02, n),
        1.0,
        MAX_ELONGATION,
    )
    nuc.angle = nuc.angle + rng.normal(0.0, 0.04, n)
    nuc.radius = nuc.radius + GROWTH * (nuc.target - nuc.radius)
    nuc.boost = nuc.boost * BOOST_DECAY
    nuc.age = nuc.age + 1


def expand(nuc: Nuclei, geo: Geometry, density: float) -> None:
    """Spread the nuclei outward from the view centre while the view is denser than configured.

    Divisions add nuclei faster than they diffuse out of a large view; like a growing colony, the
    crowd then drifts outward, so more nuclei leave across the border and the density stays put.
    """
    inside = view_distance(nuc.pos, geo) > 0
    covered = float(np.sum(np.pi * nuc.radius[inside] ** 2)) / (geo.height * geo.width)
    rate = float(np.clip(0.2 * (covered / density - 1), 0.0, MAX_EXPANSION))
    if rate > 0:
        nuc.pos = np.mod(nuc.pos + rate * (nuc.pos - geo.size / 2), geo.size)


def may_divide(nuc: Nuclei, geo: Geometry) -> np.ndarray:
    """Tell which nuclei are grown and either fully invisible or well inside the view.

    A nucleus straddling the border may not divide, so that both daughters of a visible mother are
    visible and every division in the ground truth has exactly two daughters.
    """
    grown = (nuc.age >= MIN_DIVISION_AGE) & (nuc.radius >= GROWN * nuc.target)
    inside = view_distance(nuc.pos, geo) > 1.5 * extent(nuc)
    hidden = (nuc.pixels == 0) & (nuc.track == 0)
    return grown & (inside | hidden)


def divide(
    nuc: Nuclei, rng: np.random.Generator, geo: Geometry, rate: float, speed: float
) -> tuple[Nuclei, int]:
    """Replace each dividing nucleus by two half-area daughters along its long axis."""
    dividing = may_divide(nuc, geo) & (rng.random(len(nuc)) < rate)
    if not dividing.any():
        return nuc, 0
    mothers = nuc.take(dividing)
    m = len(mothers)
    axis = np.stack([np.sin(mothers.angle), np.cos(mothers.angle)], axis=1)
    offset = (0.5 * mothers.radius * np.sqrt(mothers.elong))[:, None] * axis
    pos = np.concatenate([mothers.pos + offset, mothers.pos - offset])
    target = np.tile(mothers.target, 2) * rng.lognormal(0.0, 0.05, 2 * m)
    daughters = new_nuclei(rng, pos, target, np.tile(mothers.radius, 2) * np.sqrt(0.5), speed)
    # Daughters split apart along the division axis; each is longer across it than along it.
    daughters.vel = np.tile(mothers.vel, (2, 1)) + np.concatenate([axis, -axis]) * 0.5 * speed
    daughters.angle = np.tile(mothers.angle, 2) + np.pi / 2 + rng.normal(0.0, 0.2, 2 * m)
    daughters.brightness = np.tile(mothers.brightness, 2) * rng.lognormal(0.0, 0.1, 2 * m)
    daughters.boost = np.full(2 * m, DAUGHTER_BOOST)
    daughters.parent = np.tile(mothers.track, 2)
    return nuc.take(~dividing).extend(daughters), m


def balance_density(nuc: Nuclei, rng: np.random.Generator, geo: Geometry, cfg: SimConfig) -> Nuclei:
    """Remove or add nuclei hidden in the margin when the coverage drifts from the density.

    The torus would otherwise fill up through divisions; nuclei added in the margin later wander
    into the view, so entries keep the density in view roughly constant.
    """
    size = geo.size
    goal = cfg.density * size.prod()
    covered = float(np.sum(np.pi * nuc.radius**2))
    hidden = (nuc.pixels == 0) & (nuc.track == 0) & (view_distance(nuc.pos, geo) < -extent(nuc))
    if covered > 1.02 * goal and hidden.any():
        # Remove enough hidden nuclei to get back to the goal; an emptier margin lets fewer enter.
        order = rng.permutation(np.flatnonzero(hidden))
        excess = np.cumsum(np.pi * nuc.radius[order] ** 2) <= covered - goal
        drop = order[: max(1, int(excess.sum()))]
        return nuc.take(~np.isin(np.arange(len(nuc)), drop))
    if covered < 0.95 * goal:
        target = random_targets(rng, 1, cfg.radius)
        for _ in range(20):
            candidate = rng.uniform(0.0, 1.0, (1, 2)) * size
            reach = target * (1 + HARMONIC_AMPLITUDE.sum()) * np.sqrt(MAX_ELONGATION) + 1.5
            if view_distance(candidate, geo)[0] < -reach[0] and fits(
                candidate[0], target[0], nuc.pos, nuc.radius, size
            ):
                return nuc.extend(new_nuclei(rng, candidate, target, target, SPEED * cfg.radius))
    return nuc
