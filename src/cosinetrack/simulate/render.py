"""Imaging of the nuclei: label and intensity rendering, background, PSF and camera noise."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.transform import resize

from cosinetrack.formats import ctc
from cosinetrack.simulate.nuclei import HARMONICS, TEXTURE_SIZE, Geometry, Nuclei, extent

# --- Imaging --------------------------------------------------------------------------------------
PROFILE_RIM = 0.35  # intensity at the rim relative to the centre is 1 - PROFILE_RIM
TEXTURE_CONTRAST = 0.2
PSF_SIGMA = 1.2
HAZE_SIGMA = 8.0  # out-of-focus light of the nuclei
HAZE = 0.12
PEAK_PHOTONS = 90.0  # photons at the centre of a nucleus of brightness 1
BACKGROUND_PHOTONS = 30.0
BACKGROUND_VARIATION = 0.4  # relative amplitude of the smooth uneven background
FLICKER = 0.03  # frame-to-frame relative change of the illumination
GAIN = 4.0  # camera counts per photon
OFFSET = 100.0
READ_NOISE = 6.0


def normalised_distance(nuc: Nuclei, i: int, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Return |p - c| / r(theta) of nucleus i at offsets (dy, dx) from its centre (< 1 inside)."""
    cos, sin = np.cos(nuc.angle[i]), np.sin(nuc.angle[i])
    stretch = np.sqrt(nuc.elong[i])
    u = (dx * cos + dy * sin) / stretch
    v = (dy * cos - dx * sin) * stretch
    theta = np.arctan2(v, u)
    outline = 1 + np.sum(
        nuc.amp[i][:, None, None]
        * np.cos(HARMONICS[:, None, None] * theta + nuc.phase[i][:, None, None]),
        axis=0,
    )
    return np.hypot(u, v) / (nuc.radius[i] * outline)


def render(nuc: Nuclei, geo: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Draw all nuclei into the view: owner index + 1 per pixel, and the noise-free intensity.

    Each nucleus is drawn only in its bounding box; a pixel inside several outlines goes to the one
    with the smallest normalised distance, which flattens the faces where nuclei press together.
    """
    shape = (geo.height, geo.width)
    best = np.full(shape, np.inf, dtype=np.float32)
    owner = np.zeros(shape, dtype=np.int32)
    signal = np.zeros(shape, dtype=np.float32)
    centres = nuc.pos - geo.margin
    reach = extent(nuc)
    for i in range(len(nuc)):
        cy, cx = centres[i]
        y0, y1 = max(int(cy - reach[i]), 0), min(int(cy + reach[i]) + 2, geo.height)
        x0, x1 = max(int(cx - reach[i]), 0), min(int(cx + reach[i]) + 2, geo.width)
        if y0 >= y1 or x0 >= x1:
            continue
        ys, xs = np.arange(y0, y1), np.arange(x0, x1)
        d = normalised_distance(nuc, i, (ys - cy)[:, None], (xs - cx)[None, :]).astype(np.float32)
        box = (slice(y0, y1), slice(x0, x1))
        mine = (d < 1) & (d < best[box])
        if not mine.any():
            continue
        # The texture moves with the nucleus: index it by the offset from the rounded centre.
        ty = (ys - round(cy)) % TEXTURE_SIZE
        tx = (xs - round(cx)) % TEXTURE_SIZE
        texture = nuc.texture[i][ty[:, None], tx[None, :]]
        level = nuc.brightness[i] * (1 + nuc.boost[i])
        value = level * (1 - PROFILE_RIM * d**2) * np.maximum(1 + TEXTURE_CONTRAST * texture, 0.2)
        best[box][mine] = d[mine]
        owner[box][mine] = i + 1
        signal[box][mine] = value[mine]
    return owner, signal


def smooth_field(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Return a smooth low-frequency random field (h, w) scaled to the range [-1, 1]."""
    coarse = rng.normal(size=(5, 5))
    field = resize(coarse, shape, order=3, mode="reflect", anti_aliasing=False)
    field /= np.abs(field).max()
    return field


def background_field(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Return an uneven background in photons: offset plus a smooth low-frequency field."""
    field = smooth_field(rng, shape)
    return (BACKGROUND_PHOTONS * (1 + BACKGROUND_VARIATION * field)).astype(np.float32)


def form_image(signal: np.ndarray, background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Turn the noise-free intensity into a camera frame: haze, PSF blur, shot and read noise."""
    blurred = ndi.gaussian_filter(signal, PSF_SIGMA) + HAZE * ndi.gaussian_filter(
        signal, HAZE_SIGMA
    )
    flicker = 1 + FLICKER * rng.normal()
    photons = rng.poisson(np.maximum(flicker * (PEAK_PHOTONS * blurred + background), 0))
    counts = GAIN * photons + OFFSET + rng.normal(0.0, READ_NOISE, signal.shape)
    return np.clip(np.rint(counts), 0, ctc.UINT16_MAX).astype(np.uint16)
