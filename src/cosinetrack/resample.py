"""Resizing frames to the network's working size and label images back to the original size.

Large frames are segmented at a reduced size (`preprocess.scale`), as the reference does; the
result masks must still match the original frames. Label images are enlarged by interpolating each
label's mask bilinearly and keeping, per pixel, the label that covers it most, so outlines stay
smooth instead of blocky.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from skimage.transform import resize


def scaled_shape(shape: tuple[int, int], scale: float) -> tuple[int, int]:
    """The (height, width) of a frame of `shape` resized by `scale` (at least one pixel)."""
    return (max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale)))


def resize_image(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize an intensity image (bilinear, anti-aliased when shrinking) as float32."""
    if image.shape == shape:
        return image
    smaller = shape[0] < image.shape[0] or shape[1] < image.shape[1]
    resized = resize(image, shape, order=1, anti_aliasing=smaller, preserve_range=True)
    return resized.astype(np.float32)


def resize_labels_nearest(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a label image by nearest neighbour (training targets at the network's size)."""
    if labels.shape == shape:
        return labels
    resized = resize(labels, shape, order=0, anti_aliasing=False, preserve_range=True)
    return resized.astype(labels.dtype)


def output_span(start: int, stop: int, step: float, size: int) -> slice:
    """Output pixels whose sample position (y + 0.5) * step - 0.5 lies in [start - 1, stop]."""
    first = math.floor((start - 0.5) / step - 0.5)
    last = math.ceil((stop + 0.5) / step - 0.5)
    return slice(max(first, 0), min(last + 1, size))


def label_cover(labels: np.ndarray, label: int, box: tuple[slice, slice], shape: tuple[int, int]):
    """How much of each output pixel near `box` the label covers, by bilinear interpolation.

    Returns the output rows, columns and the (h, w) cover in [0, 1].
    """
    step_y, step_x = labels.shape[0] / shape[0], labels.shape[1] / shape[1]
    rows = output_span(box[0].start, box[0].stop, step_y, shape[0])
    cols = output_span(box[1].start, box[1].stop, step_x, shape[1])
    yy, xx = np.meshgrid(
        (np.arange(rows.start, rows.stop) + 0.5) * step_y - 0.5,
        (np.arange(cols.start, cols.stop) + 0.5) * step_x - 0.5,
        indexing="ij",
    )  # (h, w) sample positions in the input image
    # A crop grown by 2 pixels holds every sample position; beyond the frame edge the mask is
    # extended as it is ("nearest"), so labels touching the edge keep their edge.
    y0, x0 = max(box[0].start - 2, 0), max(box[1].start - 2, 0)
    crop = (labels[y0 : box[0].stop + 2, x0 : box[1].stop + 2] == label).astype(np.float32)
    cover = ndimage.map_coordinates(crop, [yy - y0, xx - x0], order=1, mode="nearest")
    return rows, cols, cover


def resize_labels_smooth(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a label image, each label's mask interpolated bilinearly; no label is lost.

    Each output pixel takes the label covering it most (more than half); a label too small to win
    any pixel keeps the one it covers most, so a track never vanishes from a frame by resizing.
    """
    if labels.shape == shape:
        return labels
    out = np.zeros(shape, dtype=labels.dtype)
    best = np.full(shape, 0.5, dtype=np.float32)
    boxes = ndimage.find_objects(labels)
    for label, box in enumerate(boxes, start=1):
        if box is not None:
            rows, cols, cover = label_cover(labels, label, box, shape)
            wins = cover > best[rows, cols]
            out[rows, cols][wins] = label
            best[rows, cols][wins] = cover[wins]
    lost = set(np.unique(labels).tolist()) - set(np.unique(out).tolist()) - {0}
    for label in sorted(lost):
        rows, cols, cover = label_cover(labels, label, boxes[label - 1], shape)
        y, x = np.unravel_index(np.argmax(cover), cover.shape)
        out[rows.start + y, cols.start + x] = label
    return out
