"""The diameter estimated from frames alone: disks of known size, both polarities, real simulated
nuclei and rods against what their ground truth measures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from cosinetrack.algorithms.object_size import estimate_diameter
from cosinetrack.config.sections import SimConfig
from cosinetrack.simulate import run_simulate
from cosinetrack.stages.adapt import measure_objects


def disks(diameter: float, shape: tuple[int, int], seed: int, bright: bool = True) -> np.ndarray:
    """A blurred, noisy frame of non-touching disks of `diameter` on a grid with jitter."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    image = np.zeros(shape)
    step = int(2 * diameter)
    for cy in range(step // 2, shape[0] - step // 2, step):
        for cx in range(step // 2, shape[1] - step // 2, step):
            y, x = cy + rng.uniform(-2, 2), cx + rng.uniform(-2, 2)
            image[(yy - y) ** 2 + (xx - x) ** 2 <= (diameter / 2) ** 2] = rng.uniform(0.7, 1.0)
    image = ndimage.gaussian_filter(image, 1.0) + rng.normal(0, 0.05, shape)
    image = image if bright else 1.0 - image
    return (1000 + 2000 * image).astype(np.uint16)


@pytest.mark.parametrize("diameter", [6.0, 14.0, 30.0, 60.0])
def test_disks_of_known_size_are_measured_within_ten_percent(diameter: float) -> None:
    frames = [disks(diameter, (256, 320), seed) for seed in range(3)]
    estimate = estimate_diameter(frames)
    assert estimate.bright
    assert estimate.frames == 3
    assert estimate.cells >= 3
    assert estimate.diameter == pytest.approx(diameter, rel=0.1)


def test_dark_cells_on_a_bright_background_are_found_as_dark() -> None:
    frames = [disks(12.0, (200, 200), seed, bright=False) for seed in range(2)]
    estimate = estimate_diameter(frames)
    assert not estimate.bright
    assert estimate.diameter == pytest.approx(12.0, rel=0.1)


def test_flat_frames_are_refused_naming_the_setting() -> None:
    with pytest.raises(ValueError, match=r"no cell-like blobs.*adapt\.object_diameter"):
        estimate_diameter([np.full((64, 64), 7, np.uint16)])
    with pytest.raises(ValueError, match="no frames"):
        estimate_diameter([])


@pytest.mark.parametrize(
    ("simulate", "dimension", "tolerance"),
    [
        # Nuclei: the estimate follows the equivalent diameter the ground truth measures.
        ({"radius": 6.0, "density": 0.4}, "diameter", 0.15),
        ({"radius": 12.0, "density": 0.25}, "diameter", 0.15),
        # Rods (dark in phase contrast): it follows their width, to within a third (a bar's
        # LoG peaks at a narrower scale than a disk's of the same width).
        ({"cells": "rods"}, "width", 0.35),
    ],
)
def test_simulated_cells_are_sized_as_their_ground_truth_measures_them(
    tmp_path: Path, simulate: dict, dimension: str, tolerance: float
) -> None:
    cfg = SimConfig(height=192, width=192, frames=12, sequences=1, seed=3, **simulate)
    run_simulate(tmp_path / "data", cfg)
    paths = sorted((tmp_path / "data" / "01").glob("t*.tif"))
    estimate = estimate_diameter([tifffile.imread(p) for p in paths[::3]])
    truth = getattr(measure_objects(tmp_path / "data", ["01"]), dimension)
    assert estimate.bright == (cfg.cells == "nuclei")
    assert estimate.diameter == pytest.approx(truth, rel=tolerance)
