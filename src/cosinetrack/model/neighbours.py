"""Neighbour relation between the instances of a clip, for the push term of the embedding loss.

Only neighbouring instances must get different embeddings (the four-colour argument of the paper),
so the loss pushes each instance away from the instances within a radius r_N of it.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage


def neighbour_matrix(instances: np.ndarray, count: int, radius: float) -> np.ndarray:
    """Return the symmetric (count + 1, count + 1) bool matrix of instances near each other.

    j is a neighbour of i (i, j >= 1, i != j) if in some frame a pixel of j lies within Euclidean
    distance `radius` of a pixel of i; the distance is at least sqrt(2), so instances that touch,
    even diagonally, are always neighbours. Row and column 0 (background) stay False: the loss
    treats the background separately. Each distance transform covers only the instance's bounding
    box grown by the radius, which holds every pixel that can be that close.

    Args:
        instances: (T, H, W) integer labels 0..count, 0 = background.
        count: largest label; labels above it are ignored.
        radius: r_N in pixels.
    """
    reach = max(radius, math.sqrt(2))
    grow = math.ceil(reach)
    near = np.zeros((count + 1, count + 1), dtype=bool)
    for frame in instances:
        boxes = ndimage.find_objects(frame, max_label=count)
        for label, box in enumerate(boxes, start=1):
            if box is None:
                continue
            box = tuple(
                slice(max(s.start - grow, 0), min(s.stop + grow, size))
                for s, size in zip(box, frame.shape, strict=True)
            )
            crop = frame[box]
            # Distance of every pixel to the nearest pixel of this instance.
            distance = ndimage.distance_transform_edt(crop != label)
            found = np.unique(crop[distance <= reach])
            near[label, found[found <= count]] = True
    near[0, :] = near[:, 0] = False
    near |= near.T
    np.fill_diagonal(near, False)
    return near
