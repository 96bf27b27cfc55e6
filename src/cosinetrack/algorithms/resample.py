"""Resizing frames to the network's working size and label images back to the original size.

Large frames are segmented at a reduced size (`preprocess.scale`), as the reference does; the
training targets are shrunk and the result masks enlarged back to the original frames. Both go
through `resize_labels`, which resizes each label's mask as an image and keeps, per pixel, the
label that covers it most: outlines stay smooth and centred instead of blocky and shifted.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from skimage.segmentation import expand_labels
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


def output_span(low: float, high: float, step: float, size: int) -> slice:
    """Output pixels whose sample position (y + 0.5) * step - 0.5 lies in [low, high] (or near)."""
    first = math.floor((low + 0.5) / step - 0.5)
    last = math.ceil((high + 0.5) / step - 0.5)
    return slice(max(first, 0), min(last + 1, size))


def label_cover(
    labels: np.ndarray, label: int, box: tuple[slice, slice], shape: tuple[int, int]
) -> tuple[slice, slice, np.ndarray]:
    """The fraction of each output pixel near `box` that the label covers.

    As skimage's `resize`: the mask is Gaussian-smoothed first when shrinking (sigma (step - 1) / 2,
    so an output pixel sees the area it stands for), then sampled bilinearly. Works in a crop
    around the label only. Returns the output rows, columns and the (h, w) cover in [0, 1].
    """
    steps = (labels.shape[0] / shape[0], labels.shape[1] / shape[1])
    sigma = [max(0.0, (step - 1) / 2) for step in steps]
    reach = 1 + math.ceil(3 * max(sigma))  # input pixels beyond the box the cover can reach
    rows, cols = (
        output_span(b.start - reach, b.stop - 1 + reach, step, n)
        for b, step, n in zip(box, steps, shape, strict=True)
    )
    y0, x0 = (max(b.start - reach - 1, 0) for b in box)
    crop = labels[y0 : box[0].stop + reach + 1, x0 : box[1].stop + reach + 1] == label
    crop = crop.astype(np.float32)
    if max(sigma) > 0:
        crop = ndimage.gaussian_filter(crop, sigma, mode="nearest")
    yy, xx = np.meshgrid(
        (np.arange(rows.start, rows.stop) + 0.5) * steps[0] - 0.5 - y0,
        (np.arange(cols.start, cols.stop) + 0.5) * steps[1] - 0.5 - x0,
        indexing="ij",
    )  # (h, w) sample positions in the crop
    # Beyond the frame edge the mask is extended as it is, so labels at the edge keep their edge.
    return rows, cols, ndimage.map_coordinates(crop, [yy, xx], order=1, mode="nearest")


def resize_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a label image by the area each label covers; outlines stay smooth, none is lost.

    Each output pixel takes the label covering most of it, unless the background covers more;
    shrinking, this is the majority of the pixels it stands for (training targets stay centred
    on the true outlines, unlike nearest-neighbour sampling); enlarging, a smooth outline. A label
    too small to win any pixel keeps the one it covers most, so no track vanishes from a frame.
    """
    if labels.shape == shape:
        return labels
    out = np.zeros(shape, dtype=labels.dtype)
    best = np.zeros(shape, dtype=np.float32)
    total = np.zeros(shape, dtype=np.float32)
    boxes = ndimage.find_objects(labels)
    for label, box in enumerate(boxes, start=1):
        if box is not None:
            rows, cols, cover = label_cover(labels, label, box, shape)
            total[rows, cols] += cover
            wins = cover > best[rows, cols]
            out[rows, cols][wins] = label
            best[rows, cols][wins] = cover[wins]
    out[best <= 1 - total] = 0
    lost = set(np.unique(labels).tolist()) - set(np.unique(out).tolist()) - {0}
    for label in sorted(lost):
        rows, cols, cover = label_cover(labels, label, boxes[label - 1], shape)
        y, x = np.unravel_index(np.argmax(cover), cover.shape)
        out[rows.start + y, cols.start + x] = label
    return out


def follow_foreground(labels: np.ndarray, cosine: np.ndarray, threshold: float) -> np.ndarray:
    """Enlarged labels (H, W) whose outlines follow the cosine to the background, interpolated.

    `cosine` is the network's cosine to the background direction at the working size; resized
    bilinearly to the labels' size, it places each outline between working pixels, where the
    label masks alone can only place it on their grid. A pixel is foreground where the resized
    cosine is at most `threshold` (the clustering's foreground test) and takes the label nearest
    to it within one working pixel; a label that would vanish keeps its enlarged mask.
    """
    if cosine.shape == labels.shape:
        return labels
    reach = math.ceil(max(n / m for n, m in zip(labels.shape, cosine.shape, strict=True)))
    inside = resize_image(cosine.astype(np.float32), labels.shape) <= threshold
    out = np.where(inside, expand_labels(labels, reach), 0).astype(labels.dtype)
    lost = np.setdiff1d(np.unique(labels), np.unique(out))
    for label in lost[lost > 0]:
        out[labels == label] = label
    return out
