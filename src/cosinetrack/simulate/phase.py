"""Imaging of the rods in phase contrast: label rendering, dark cells with bright halos, camera.

A phase-contrast microscope shows a thin object's optical path difference as darkness, minus its
low-pass part, which it shows as a bright halo (the shade-off and halo artefacts): a lone rod is
dark with a bright rim outside, the inside of a packed colony is a little less dark than its edge,
and the colony's outline glows. The optical path of a rod grows with its thickness, largest on its
axis and zero at its outline, so two touching rods meet along a faintly brighter line.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from cosinetrack.formats import ctc
from cosinetrack.simulate.render import GAIN, OFFSET, READ_NOISE, smooth_field
from cosinetrack.simulate.rods import Rods, poles

PROFILE_POWER = 4  # thickness sqrt(1 - d**4) at relative distance d from the axis
DARKNESS = 0.85  # darkening on a rod's axis, relative to the background
HALO = 0.7  # weight of the low-pass (halo) part of the optical path
HALO_SIGMA = 3.0  # pixels: width of the halo
OPTICS_SIGMA = 1.0  # pixels: blur of the objective
BACKGROUND_PHOTONS = 400.0  # photons per pixel of the background
ILLUMINATION_VARIATION = 0.08  # relative amplitude of the smooth uneven illumination
FLICKER = 0.01  # frame-to-frame relative change of the illumination


def axis_distance(start: np.ndarray, end: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Return the distance (h, w) of pixel centres (ys by xs) from the segment start-end."""
    d = end - start
    length2 = float(d @ d)
    py, px = ys[:, None] - start[0], xs[None, :] - start[1]
    s = np.clip((py * d[0] + px * d[1]) / length2, 0.0, 1.0) if length2 > 0 else 0.0
    return np.hypot(py - s * d[0], px - s * d[1])


def render_rods(rods: Rods, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Draw the rods: owner index + 1 per pixel, and the thickness (0 outside, 1 on an axis).

    A pixel inside several capsules goes to the one whose axis is nearest relative to its radius,
    which gives pressed rods a flat contact face and keeps the masks disjoint.
    """
    height, width = shape
    best = np.full(shape, np.inf, dtype=np.float32)
    owner = np.zeros(shape, dtype=np.int32)
    start, end = poles(rods)
    radius = rods.width / 2
    for i in range(len(rods)):
        low = np.minimum(start[i], end[i]) - radius[i] - 1
        high = np.maximum(start[i], end[i]) + radius[i] + 2
        y0, y1 = max(int(low[0]), 0), min(int(high[0]), height)
        x0, x1 = max(int(low[1]), 0), min(int(high[1]), width)
        if y0 >= y1 or x0 >= x1:
            continue
        ys, xs = np.arange(y0, y1, dtype=float), np.arange(x0, x1, dtype=float)
        d = (axis_distance(start[i], end[i], ys, xs) / radius[i]).astype(np.float32)
        box = (slice(y0, y1), slice(x0, x1))
        mine = (d < 1) & (d < best[box])
        best[box][mine] = d[mine]
        owner[box][mine] = i + 1
    # Flatter than a cylinder's chord, as phase-contrast rods look evenly dark up to their outline;
    # 0 where best is inf.
    thickness = np.sqrt(np.clip(1 - best**PROFILE_POWER, 0.0, 1.0))
    return owner, thickness


def phase_signal(thickness: np.ndarray) -> np.ndarray:
    """Return the noise-free phase-contrast intensity relative to the background (1)."""
    path = DARKNESS * thickness
    halo = HALO * ndi.gaussian_filter(path, HALO_SIGMA)
    return ndi.gaussian_filter(1 - path + halo, OPTICS_SIGMA)


def illumination(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Return the slowly varying illumination in background photons per pixel."""
    return BACKGROUND_PHOTONS * (1 + ILLUMINATION_VARIATION * smooth_field(rng, shape))


def phase_image(thickness: np.ndarray, light: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Turn the rods' thickness into a camera frame: phase contrast, shot and read noise."""
    flicker = 1 + FLICKER * rng.normal()
    photons = rng.poisson(np.maximum(flicker * light * phase_signal(thickness), 0))
    counts = GAIN * photons + OFFSET + rng.normal(0.0, READ_NOISE, thickness.shape)
    return np.clip(np.rint(counts), 0, ctc.UINT16_MAX).astype(np.uint16)
