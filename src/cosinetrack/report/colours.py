"""One palette of track colours, so a track has the same colour in every report figure."""

from __future__ import annotations

import colorsys
from collections.abc import Iterable

import numpy as np

GOLDEN = 0.6180339887498949
BRIGHTNESS_STEP = 0.7548776662466927  # 1 / plastic number: independent of the hue steps


def track_colour(track_id: int) -> tuple[int, int, int]:
    """Return the fixed RGB colour of a track id, shared by all report figures.

    Hues step by the golden ratio and brightness by a second irrational step, so ids close in
    number, or about a hue period (13) apart, still differ visibly.
    """
    hue = (int(track_id) * GOLDEN) % 1.0
    value = 0.7 + 0.3 * ((int(track_id) * BRIGHTNESS_STEP) % 1.0)
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.85, value)
    return (round(red * 255), round(green * 255), round(blue * 255))


def track_colours(track_ids: Iterable[int]) -> np.ndarray:
    """Return the (N, 3) uint8 colours of several track ids, for vectorised drawing."""
    return np.array([track_colour(i) for i in track_ids], dtype=np.uint8).reshape(-1, 3)
