"""Tests of the rods simulator: geometry, packing, CTC ground truth and phase contrast."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydantic
import pytest
from scipy import ndimage as ndi
from skimage import measure

from cosinetrack import simulate
from cosinetrack.config.sections import SimConfig
from cosinetrack.formats import ctc
from cosinetrack.simulate.packing import CONTACT, closest_points, relax
from cosinetrack.simulate.phase import render_rods
from cosinetrack.simulate.rods import Rods, divide, new_rods, poles

DEFAULT = SimConfig(cells="rods", sequences=1)  # 256 x 256, 40 frames
SMALL = SimConfig(cells="rods", height=96, width=96, frames=6, sequences=2, seed=3)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sequence 01 of the default rods configuration, simulated once."""
    root = tmp_path_factory.mktemp("rods") / "data"
    simulate.run_simulate(root, DEFAULT)
    return root


@pytest.fixture(scope="module")
def masks(dataset: Path) -> list[np.ndarray]:
    """The TRA masks of the default rods sequence, one per frame."""
    return [ctc.read_label_frame(p) for p in sorted((dataset / "01_GT" / "TRA").glob("*.tif"))]


@pytest.fixture(scope="module")
def images(dataset: Path) -> list[np.ndarray]:
    """The raw frames of the default rods sequence."""
    return [ctc.read_frame(p) for p in sorted((dataset / "01").glob("*.tif"))]


@pytest.fixture(scope="module")
def tracks(dataset: Path) -> np.ndarray:
    """The track table L B E P of the default rods sequence."""
    return ctc.read_track_table(dataset / "01_GT" / "TRA" / "man_track.txt")


def files(root: Path) -> dict[str, bytes]:
    """Map every file under root (relative path) to its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def two_rods(centres: list[list[float]], angles: list[float], length: float = 30.0) -> Rods:
    """Two rods of width 8 with the given centres (y, x), orientations and length."""
    rng = np.random.default_rng(0)
    return new_rods(
        rng, np.array(centres), np.array(angles), np.full(2, length), np.full(2, 8.0), DEFAULT
    )


def test_same_seed_gives_identical_files_and_other_seeds_differ(tmp_path: Path) -> None:
    simulate.run_simulate(tmp_path / "a", SMALL)
    simulate.run_simulate(tmp_path / "b", SMALL)
    simulate.run_simulate(tmp_path / "c", SMALL.model_copy(update={"seed": 4}))
    a, b, c = files(tmp_path / "a"), files(tmp_path / "b"), files(tmp_path / "c")
    assert len(a) == 2 * (6 + 6 + 3 + 1) + 1  # raw, TRA, SEG, table per sequence; summary
    assert a == b
    assert a["01/t000.tif"] != c["01/t000.tif"]
    assert a["01/t000.tif"] != a["02/t000.tif"]  # each sequence has its own seed


def test_record_names_the_keys_that_shape_the_dataset(tmp_path: Path) -> None:
    simulate.run_simulate(tmp_path / "rods", SMALL)
    nuclei = SimConfig(height=64, width=64, frames=2, sequences=1, radius=6.0)
    simulate.run_simulate(tmp_path / "nuclei", nuclei)
    rods = json.loads((tmp_path / "rods" / "simulation.json").read_text())["config"]
    assert rods["cells"] == "rods" and rods["rod_width"] == 8.0 and "radius" not in rods
    # A nuclei dataset records the keys it recorded before rods existed, nothing more.
    record = json.loads((tmp_path / "nuclei" / "simulation.json").read_text())["config"]
    assert list(record) == [
        "height", "width", "frames", "sequences", "density", "radius", "division_rate",
        "seg_fraction", "seg_coverage", "markers", "silver", "min_size", "seed",
    ]  # fmt: skip


def test_ground_truth_is_consistent_with_the_track_table(
    dataset: Path, masks: list[np.ndarray], tracks: np.ndarray
) -> None:
    ctc.read_ground_truth(dataset / "01_GT", DEFAULT.frames)  # the reader's own CTC checks
    spans = {int(label): (int(b), int(e)) for label, b, e, _ in tracks}
    for t, labels in enumerate(masks):
        assert labels.dtype == np.uint16
        present = set(np.unique(labels[labels > 0]).tolist())
        assert present <= set(spans)
        # Every track shows in exactly the frames of its span.
        assert present == {label for label, (b, e) in spans.items() if b <= t <= e}
    seg = sorted((dataset / "01_GT" / "SEG").glob("*.tif"))
    assert [p.name for p in seg][:2] == ["man_seg000.tif", "man_seg002.tif"]  # seg_fraction 0.5
    assert len(seg) == 20


def test_divisions_have_two_daughters_where_the_mother_was(
    masks: list[np.ndarray], tracks: np.ndarray
) -> None:
    end = {int(label): int(e) for label, _, e, _ in tracks}
    daughters = tracks[tracks[:, 3] > 0]
    mothers, counts = np.unique(daughters[:, 3], return_counts=True)
    assert len(mothers) >= 20
    assert np.all(counts == 2)
    for label, begin, _, parent in daughters:
        assert end[int(parent)] == begin - 1
        daughter = masks[begin] == label
        mother = ndi.binary_dilation(masks[begin - 1] == parent, iterations=2)
        assert (daughter & mother).sum() >= 0.9 * daughter.sum()


def test_rods_are_elongated_and_keep_their_width(masks: list[np.ndarray]) -> None:
    props = measure.regionprops(masks[-1])
    major = np.array([p.axis_major_length for p in props])
    minor = np.array([p.axis_minor_length for p in props])
    assert np.median(major / minor) >= 2.5
    # A capsule of width w has a minor axis of about 2 w / sqrt(3) (its second moments): pressed
    # rods are not squeezed much narrower.
    assert 0.9 < np.median(minor) / (2 * DEFAULT.rod_width / np.sqrt(3)) < 1.15


def test_rods_touch_side_by_side(masks: list[np.ndarray]) -> None:
    assert simulate.touching_fraction(masks[0]) > 0.5  # the first rods lie side by side
    assert simulate.touching_fraction(masks[-1]) > 0.8


def test_the_colony_grows_from_a_few_sparse_rods(masks: list[np.ndarray]) -> None:
    counts = [len(np.unique(m[m > 0])) for m in masks]
    coverage = [float(np.mean(m > 0)) for m in masks]
    assert counts[0] == DEFAULT.initial_cells
    assert 40 <= counts[-1] <= 80
    assert coverage[0] < 0.05
    assert coverage[-1] > 5 * coverage[0]


def test_cells_are_dark_with_a_bright_halo(
    images: list[np.ndarray], masks: list[np.ndarray]
) -> None:
    for image, labels in ((images[0], masks[0]), (images[-1], masks[-1])):
        image = image.astype(float)
        cells = labels > 0
        inside = ndi.binary_erosion(cells, iterations=2)
        halo = ndi.binary_dilation(cells, iterations=3) & ~cells
        background = ~ndi.binary_dilation(cells, iterations=20)
        assert image[inside].mean() < 0.85 * image[background].mean()
        assert image[halo].mean() > 1.05 * image[background].mean()


def test_closest_points_of_segments_match_a_dense_search() -> None:
    rng = np.random.default_rng(7)
    p0, p1, q0, q1 = (rng.uniform(0, 10, (50, 2)) for _ in range(4))
    p1[0] = p0[0]  # a point as one segment
    q1[1] = q0[1] + 2 * (p1[1] - p0[1])  # parallel segments
    q0[1] = q0[1] + (p1[1] - p0[1])
    pi, pj = closest_points(p0, p1, q0, q1)
    steps = np.linspace(0, 1, 401)
    for k in range(50):
        a = p0[k] + steps[:, None] * (p1[k] - p0[k])
        b = q0[k] + steps[:, None] * (q1[k] - q0[k])
        dense = np.min(np.hypot(*(a[:, None] - b[None]).transpose(2, 0, 1)))
        assert np.hypot(*(pi[k] - pj[k])) == pytest.approx(dense, abs=0.05)


def test_relaxation_parts_overlapping_rods_to_contact() -> None:
    rods = two_rods([[50.0, 50.0], [53.0, 52.0]], [0.0, 0.1])
    relax(rods)
    start, end = poles(rods)
    pi, pj = closest_points(start[:1], end[:1], start[1:], end[1:])
    assert np.hypot(*(pi - pj)[0]) == pytest.approx(CONTACT * 8, abs=0.5)
    owner, _ = render_rods(rods, (100, 100))
    assert set(np.unique(owner).tolist()) == {0, 1, 2}


def test_division_splits_a_rod_across_its_middle() -> None:
    rods = two_rods([[50.0, 50.0], [80.0, 50.0]], [0.0, 0.0], length=40.0)
    rods.length = np.array([40.0, 30.0])
    rods.division_length = np.array([39.0, 41.0])
    rods.track = np.array([5, 6])
    out, divided = divide(rods, np.random.default_rng(0), DEFAULT)
    assert divided == 1
    assert len(out) == 2 + 1
    np.testing.assert_allclose(out.length, [30.0, 20.0, 20.0])
    np.testing.assert_allclose(out.centre[1:], [[50.0, 40.0], [50.0, 60.0]])  # along x
    assert out.parent.tolist() == [0, 5, 5]
    assert np.all(np.abs(out.angle[1:]) < 0.2)  # the daughters keep the mother's axis


def test_challenge_style_ground_truth_works_for_rods(tmp_path: Path) -> None:
    cfg = SMALL.model_copy(update={"markers": True, "silver": True, "seg_fraction": 0.5})
    simulate.run_simulate(tmp_path / "d", cfg)
    gt = ctc.read_ground_truth(tmp_path / "d" / "01_GT", cfg.frames)
    marker = ctc.read_label_frame(gt.tra[0])
    silver = ctc.read_label_frame(tmp_path / "d" / "01_ST" / "SEG" / "man_seg000.tif")
    assert 0 < np.count_nonzero(marker) < np.count_nonzero(silver)


def test_rods_shorter_than_wide_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="raise birth_length"):
        SimConfig(cells="rods", rod_width=10.0, birth_length=8.0)
    SimConfig(rod_width=10.0, birth_length=8.0)  # nuclei ignore the rod keys
