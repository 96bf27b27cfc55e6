"""Packing of a growing colony: rods that overlap push each other apart, and turn a little.

Each frame, after growth and division, a few deterministic relaxation sweeps resolve the overlaps:
for every pair of capsules closer than their contact distance, the closest points of their axes are
pushed apart along the line joining them, each rod taking half of the correction, and the push
off a rod's centre turns it about its centre. Pairs a little further apart are pulled together
(adhesion, as the matrix and the agar pad keep a colony compact), which also turns neighbours
parallel. All pairs move at once (Jacobi sweeps), so the result does not depend on the order of
the rods.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from cosinetrack.simulate.rods import Rods, axis, half_axis, poles

# Pairs relax to this fraction of their summed radii: touching rods press a little and their masks
# meet along a flat face, as in a packed colony, without overlapping much.
CONTACT = 0.9
# Pairs less than ADHESION_RANGE of their summed radii beyond contact are pulled into contact by
# ADHESION of the gap per sweep.
ADHESION_RANGE = 0.5
ADHESION = 0.15
# Sweeps per frame: until no pair overlaps beyond contact by more than TOLERANCE mean widths, or
# SWEEPS at most. A Jacobi sweep carries a push one neighbour further, so big colonies need many.
SWEEPS = 200
TOLERANCE = 0.05
STEP = 0.8  # fraction of the summed pushes a rod moves per sweep (under-relaxed: many contacts)
TURN = 0.5  # rotation per sweep against the push's torque over the squared half axis
MAX_TURN = 0.1  # radians per sweep


def closest_points(
    p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return the closest points (M, 2) of the segments p0-p1 and q0-q1, pair by pair.

    Ericson, Real-Time Collision Detection (2005), 5.1.9, vectorised; degenerate (point) segments
    are handled by the clipping.
    """
    d1, d2, r = p1 - p0, q1 - q0, p0 - q0  # (M, 2)
    a = np.einsum("ij,ij->i", d1, d1)
    e = np.einsum("ij,ij->i", d2, d2)
    f = np.einsum("ij,ij->i", d2, r)
    c = np.einsum("ij,ij->i", d1, r)
    b = np.einsum("ij,ij->i", d1, d2)
    tiny = 1e-9
    denom = a * e - b * b
    # Closest point of the infinite lines, clamped to the first segment (any s if parallel).
    s = np.where(denom > tiny, np.clip((b * f - c * e) / np.maximum(denom, tiny), 0.0, 1.0), 0.0)
    t = np.where(e > tiny, (b * s + f) / np.maximum(e, tiny), 0.0)
    # Where t leaves [0, 1], clamp it and recompute s for that end of the second segment.
    t_clamped = np.clip(t, 0.0, 1.0)
    s = np.where(
        t != t_clamped,
        np.where(a > tiny, np.clip((t_clamped * b - c) / np.maximum(a, tiny), 0.0, 1.0), 0.0),
        s,
    )
    return p0 + s[:, None] * d1, q0 + t_clamped[:, None] * d2


def neighbour_pairs(rods: Rods) -> np.ndarray:
    """Return the pairs (M, 2) of rods near enough to touch or adhere during a frame's sweeps."""
    if len(rods) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    # Centres further apart than the sum of the half lengths cannot touch; a width of slack covers
    # the motion of the sweeps within a frame.
    slack = float(rods.width.max())
    reach = float(rods.length.max()) + slack
    pairs = cKDTree(rods.centre).query_pairs(reach, output_type="ndarray").astype(np.int64)
    pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]  # a fixed order: sums are repeatable
    i, j = pairs[:, 0], pairs[:, 1]
    start, end = poles(rods)
    pi, pj = closest_points(start[i], end[i], start[j], end[j])
    dist = np.hypot(*(pj - pi).T)
    near = (CONTACT + ADHESION_RANGE) * (rods.width[i] + rods.width[j]) / 2 + slack
    return pairs[dist < near]


def sweep(rods: Rods, pairs: np.ndarray) -> float:
    """Move and turn the rods once against their overlaps; return the largest overlap found."""
    i, j = pairs[:, 0], pairs[:, 1]
    start, end = poles(rods)
    pi, pj = closest_points(start[i], end[i], start[j], end[j])  # (M, 2)
    gap = pj - pi
    dist = np.hypot(gap[:, 0], gap[:, 1])
    reach = (rods.width[i] + rods.width[j]) / 2
    overlap = CONTACT * reach - dist
    # Pulls are negative pushes; they stop at contact and fade out at the edge of their range.
    pull = ADHESION * np.clip(
        np.minimum(-overlap, (CONTACT + ADHESION_RANGE) * reach - dist), 0, None
    )
    hit = (overlap > 0) | (pull > 0)
    if not hit.any():
        return 0.0
    i, j, pi, pj, gap, dist = (v[hit] for v in (i, j, pi, pj, gap, dist))
    overlap, pull = overlap[hit], pull[hit]
    # Coincident axes (a rod on top of another) part across the first rod's axis.
    across = axis(rods.angle[i] + np.pi / 2)
    unit = np.where(dist[:, None] > 1e-6, gap / np.maximum(dist, 1e-6)[:, None], across)
    push = 0.5 * (np.clip(overlap, 0, None) - pull)[:, None] * unit  # (M, 2) on j; -push on i
    shift = np.stack([total(push[:, k], j, -push[:, k], i, len(rods)) for k in (0, 1)], axis=1)
    torque = total(
        cross(pj - rods.centre[j], push), j, cross(pi - rods.centre[i], -push), i, len(rods)
    )
    inertia = np.maximum(half_axis(rods), 0.5 * rods.width) ** 2
    rods.centre = rods.centre + STEP * shift
    rods.angle = rods.angle + np.clip(TURN * torque / inertia, -MAX_TURN, MAX_TURN)
    return float(max(overlap.max(), 0.0))


def total(a: np.ndarray, at_a: np.ndarray, b: np.ndarray, at_b: np.ndarray, n: int) -> np.ndarray:
    """Return the (n,) sums per rod of the values `a` at rods `at_a` and `b` at rods `at_b`."""
    return np.bincount(at_a, a, minlength=n) + np.bincount(at_b, b, minlength=n)


def cross(lever: np.ndarray, force: np.ndarray) -> np.ndarray:
    """Return the torque (M,) of forces at levers, both (M, 2) as (y, x), about the x-to-y sense.

    An angle measured from the x axis towards y grows under a positive torque, as `axis` turns.
    """
    return lever[:, 1] * force[:, 0] - lever[:, 0] * force[:, 1]


def relax(rods: Rods, sweeps: int = SWEEPS) -> float:
    """Push overlapping rods apart by up to `sweeps` sweeps; return the last largest overlap."""
    pairs = neighbour_pairs(rods)
    worst = 0.0
    tolerance = TOLERANCE * float(rods.width.mean()) if len(rods) else 0.0
    for _ in range(sweeps if len(pairs) else 0):
        worst = sweep(rods, pairs)
        if worst <= tolerance:
            break
    return worst
