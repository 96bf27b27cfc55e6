"""Ground truth as the Cell Tracking Challenge ships it, made from a simulated frame's full masks.

The challenge's gold tracking truth marks every cell, often with a blob inside it rather than its
outline; its gold segmentation truth covers a few frames and, in several datasets, not every cell
of them; its silver truth is computer-made, complete and a little off at the outlines. These
functions turn the simulator's exact masks into each, so the workflow can be trained and judged on
data shaped like a real challenge training set.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

MARKER_FRACTION = 1 / 3  # marker radius against the nucleus's inner radius


def annotation_rng(seed: int, sequence: int) -> np.random.Generator:
    """The generator of a sequence's annotation choices, apart from the one of its images."""
    return np.random.default_rng(np.random.SeedSequence([seed, sequence, 1]))


def padded_box(box: tuple[slice, slice], shape: tuple[int, ...]) -> tuple[slice, slice]:
    """A bounding box grown by one pixel on every side, clipped to the frame."""
    return tuple(
        slice(max(0, s.start - 1), min(n, s.stop + 1)) for s, n in zip(box, shape, strict=True)
    )


def markers(labels: np.ndarray) -> np.ndarray:
    """Each object's marker: a disk of a third of its inner radius around its innermost point."""
    out = np.zeros_like(labels)
    for label, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        box = padded_box(box, labels.shape)
        inside = labels[box] == label
        depth = ndi.distance_transform_edt(np.pad(inside, 1))[1:-1, 1:-1]  # (h, w)
        centre = np.unravel_index(int(depth.argmax()), depth.shape)
        yy, xx = np.indices(inside.shape)
        radius = max(1.0, MARKER_FRACTION * float(depth.max()))
        disk = (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2
        out[box][inside & disk] = label
    return out


def partial(labels: np.ndarray, coverage: float, rng: np.random.Generator) -> np.ndarray:
    """Keep each object with probability `coverage`, as an annotator who leaves cells out."""
    present = np.unique(labels)
    present = present[present > 0]
    keep = present[rng.random(len(present)) < coverage]
    return np.where(np.isin(labels, keep), labels, 0).astype(labels.dtype)


def outline_noise(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Grow, shrink or keep each object's outline by one pixel, at random, as silver truth errs.

    An object grows only into the background, never into a neighbour.
    """
    out = labels.copy()
    change = rng.integers(-1, 2, size=int(labels.max(initial=0)) + 1)  # -1, 0 or +1 per label
    for label, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None or change[label] == 0:
            continue
        box = padded_box(box, labels.shape)
        inside = labels[box] == label
        if change[label] < 0:
            out[box][inside & ~ndi.binary_erosion(inside)] = 0
        else:
            out[box][ndi.binary_dilation(inside) & (out[box] == 0)] = label
    return out
