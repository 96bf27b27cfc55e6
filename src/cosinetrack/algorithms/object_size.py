"""The cells' diameter estimated from the frames alone, for data without outlines to measure.

A blob of diameter d gives the strongest scale-normalised Laplacian-of-Gaussian response,
-sigma^2 * LoG, at sigma = d / (2 * sqrt(2)) (Lindeberg's scale selection; the detector of
`skimage.feature.blob_log`). Every local maximum of that response over position and scale that is
at least half as strong as the frame's strongest is a cell; the estimate is the median of their
diameters over a few frames, the scale refined between the sampled sigmas by a parabola in log
sigma. Cells brighter than the background (fluorescence: the intensities are skewed to the
right) are searched as maxima of the response, darker ones (phase-contrast bacteria) as minima.
For elongated cells the response follows their width, the dimension that tells touching cells
apart, which is what the working scale follows for them (see `stages.adapt.scale_from`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.stats import skew

SIGMAS_PER_OCTAVE = 8  # sampled scales per doubling of sigma
SMALLEST_SIGMA = 1.0  # a diameter of 2.8 px, below which a cell is not resolved
GRID_SIGMA = 2.0  # octave j > 0 is searched on a grid 2^j times coarser, at sigmas 2-4 there
STRENGTH = 0.5  # a cell's response is at least this share of the frame's strongest
DIAMETER_PER_SIGMA = 2.0 * np.sqrt(2.0)


@dataclass(frozen=True)
class SizeEstimate:
    """The estimated diameter (pixels), whether cells are brighter, and what it rests on."""

    diameter: float
    bright: bool
    cells: int
    frames: int


def normalised(frame: np.ndarray) -> np.ndarray:
    """The frame with its 1st and 99.8th percentiles at 0 and 1 (clipped), as float32."""
    image = frame.astype(np.float32)
    low, high = np.percentile(image, (1.0, 99.8))
    return np.clip((image - low) / max(float(high - low), 1e-6), 0.0, 1.0)


def is_bright(images: Sequence[np.ndarray]) -> bool:
    """Whether cells are brighter than the background: the intensities skew to the right."""
    return float(np.mean([skew(image, axis=None) for image in images])) >= 0.0


def octaves(shape: tuple[int, int]) -> int:
    """Octaves of sigma to search: up to sigma of an eighth of the frame's shorter side."""
    largest = max(min(shape) / 8.0, 2.0 * GRID_SIGMA)
    return max(1, int(np.ceil(np.log2(largest / GRID_SIGMA))))


def octave_grid(image: np.ndarray, octave: int) -> np.ndarray:
    """The image on the grid of an octave: 2^octave times coarser (block means), octave 0 as is."""
    factor = 2**octave
    height, width = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    blocks = image[:height, :width].reshape(height // factor, factor, width // factor, factor)
    return blocks.mean(axis=(1, 3))


def octave_sigmas(octave: int) -> np.ndarray:
    """Grid sigmas of an octave with one more at each end, so every inner one has neighbours.

    Octave 0 covers sigma 1-4 on the frame's grid, octave j > 0 sigma 2^(j+1)-2^(j+2), i.e. 2-4
    on its grid: the kernels stay small however large the cells.
    """
    low = SMALLEST_SIGMA if octave == 0 else GRID_SIGMA
    steps = np.arange(-1, round(np.log2(2 * GRID_SIGMA / low) * SIGMAS_PER_OCTAVE) + 1)
    return low * 2.0 ** (steps / SIGMAS_PER_OCTAVE)


def response(image: np.ndarray, scales: np.ndarray, bright: bool) -> np.ndarray:
    """The scale-normalised LoG response (scale, y, x), positive on cells of either polarity.

    sigma^2 * LoG does not change when both the image grid and sigma are coarsened, so the
    octaves' responses compare with each other.
    """
    sign = -1.0 if bright else 1.0
    return np.stack([sign * s**2 * ndimage.gaussian_laplace(image, s) for s in scales])


def peak_scales(stack: np.ndarray, floor: float) -> np.ndarray:
    """Fractional scale indices of the local maxima of a response stack that reach `floor`.

    Maxima at the first and last scale of the stack are left out: they are the neighbouring
    octaves' (or, at the ends of the search, their true scale lies outside).
    """
    peaks = stack == ndimage.maximum_filter(stack, size=(3, 5, 5), mode="nearest")
    peaks &= stack >= floor
    peaks[[0, -1]] = False
    k, y, x = np.nonzero(peaks)
    below, at, above = stack[k - 1, y, x], stack[k, y, x], stack[k + 1, y, x]
    curvature = below - 2.0 * at + above
    shift = np.where(curvature < 0, 0.5 * (below - above) / np.minimum(curvature, -1e-12), 0.0)
    return k + np.clip(shift, -0.5, 0.5)


def frame_diameters(image: np.ndarray, bright: bool) -> np.ndarray:
    """Diameters (pixels) of the strong blobs of one normalised frame, octave by octave."""
    stacks = []
    for octave in range(octaves(image.shape)):
        scales = octave_sigmas(octave)
        stacks.append((octave, scales, response(octave_grid(image, octave), scales, bright)))
    strongest = max(float(stack.max()) for _, _, stack in stacks)
    if strongest <= 0:
        return np.empty(0)
    found = []
    for octave, scales, stack in stacks:
        index = peak_scales(stack, STRENGTH * strongest)
        log_sigma = np.interp(index, np.arange(len(scales)), np.log(scales))
        found.append(DIAMETER_PER_SIGMA * 2**octave * np.exp(log_sigma))
    return np.concatenate(found)


def estimate_diameter(frames: Sequence[np.ndarray]) -> SizeEstimate:
    """The cells' median diameter in pixels over `frames` (2-D arrays of one sequence or more)."""
    if not frames:
        raise ValueError("estimate_diameter: no frames")
    images = [normalised(frame) for frame in frames]
    bright = is_bright(images)
    found = np.concatenate([frame_diameters(image, bright) for image in images])
    if not len(found):
        raise ValueError(
            "estimate_diameter: no cell-like blobs in the frames (flat or empty frames?); "
            "set adapt.object_diameter to the cells' diameter in pixels"
        )
    return SizeEstimate(float(np.median(found)), bright, len(found), len(frames))
