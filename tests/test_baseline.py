"""Classical baseline on hand-made frames and a hand-made CTC sequence with known answers."""

from pathlib import Path

import numpy as np
import pytest
from conftest import disk
from pydantic import ValidationError

from cosinetrack.config.sections import BaselineConfig, EvaluateConfig, LinkConfig
from cosinetrack.formats import ctc, ctc_layout
from cosinetrack.stages.baseline import baseline_link, run_baseline, segment_frame
from cosinetrack.stages.evaluate import score

SHAPE = (48, 64)
# Noise-free frames and no smoothing: the mask is exactly the drawn objects.
EXACT = BaselineConfig(sigma=0.0, threshold="otsu", min_size=20, min_distance=5)


def frame(*objects: tuple[np.ndarray, float], background: float = 100.0) -> np.ndarray:
    """Draw (mask, intensity) objects on a flat background as a uint16 frame."""
    image = np.full(SHAPE, background)
    for mask, intensity in objects:
        image[mask] = intensity
    return image.astype(np.uint16)


def two_touching_disks() -> tuple[np.ndarray, np.ndarray]:
    """Two equal disks of radius 9 whose centres are 16 px apart: one blob with a neck."""
    return disk(SHAPE, (24, 24), 9), disk(SHAPE, (24, 40), 9)


@pytest.mark.parametrize(
    "cfg",
    [EXACT, EXACT.model_copy(update={"seeds": "h_maxima", "h": 1.0})],
    ids=["peaks", "h_maxima"],
)
def test_touching_disks_are_split_at_their_neck(cfg: BaselineConfig) -> None:
    left, right = two_touching_disks()
    labels = segment_frame(frame((left | right, 500.0)), cfg)
    assert sorted(np.unique(labels).tolist()) == [0, 1, 2]
    assert np.array_equal(labels > 0, left | right)
    # Everything more than a pixel off the bisector x = 32 belongs to its own disk's object.
    xx = np.arange(SHAPE[1])[None, :]
    a, b = labels[24, 24], labels[24, 40]
    assert a != b
    assert np.all(labels[(left | right) & (xx < 31)] == a)
    assert np.all(labels[(left | right) & (xx > 33)] == b)


def test_touching_disks_are_split_with_the_defaults_on_a_noisy_frame() -> None:
    left, right = two_touching_disks()
    image = frame((left | right, 500.0)) + np.random.default_rng(0).normal(0, 10, SHAPE)
    labels = segment_frame(image.astype(np.uint16), BaselineConfig())
    assert sorted(np.unique(labels).tolist()) == [0, 1, 2]
    assert labels[24, 24] != labels[24, 40]


def test_dim_object_below_the_threshold_vanishes() -> None:
    bright, dim = disk(SHAPE, (24, 16), 8), disk(SHAPE, (24, 46), 8)
    labels = segment_frame(frame((bright, 500.0), (dim, 130.0)), EXACT)
    assert np.array_equal(labels > 0, bright)
    assert np.unique(labels).tolist() == [0, 1]


def test_objects_below_min_size_are_removed() -> None:
    big = disk(SHAPE, (24, 16), 8)
    small = np.zeros(SHAPE, bool)
    small[20:23, 40:43] = True  # 9 pixels
    image = frame((big, 500.0), (small, 500.0))
    assert np.array_equal(segment_frame(image, EXACT) > 0, big)
    kept = segment_frame(image, EXACT.model_copy(update={"min_size": 9}))
    assert np.array_equal(kept > 0, big | small)
    assert np.count_nonzero(kept == kept[21, 41]) == 9


def test_holes_are_filled() -> None:
    nucleus = disk(SHAPE, (24, 32), 10)
    nucleolus = disk(SHAPE, (24, 32), 3)
    labels = segment_frame(frame((nucleus, 500.0), (nucleolus, 100.0)), EXACT)
    assert np.array_equal(labels > 0, nucleus)
    assert np.unique(labels).tolist() == [0, 1]


@pytest.mark.parametrize("method", ["otsu", "li", "triangle", "local"])
def test_empty_frame_gives_no_objects(method: str) -> None:
    labels = segment_frame(np.full(SHAPE, 100, np.uint16), BaselineConfig(threshold=method))
    assert labels.shape == SHAPE and not labels.any()


def test_local_threshold_follows_an_uneven_background() -> None:
    # A ramp background from 100 to 400; both disks are 150 above their surroundings.
    ramp = np.linspace(100, 400, SHAPE[1])[None, :].repeat(SHAPE[0], 0)
    left, right = disk(SHAPE, (24, 12), 7), disk(SHAPE, (24, 52), 7)
    image = ramp + 150 * (left | right)
    local = BaselineConfig(sigma=0.0, threshold="local", block_size=31, offset=0.1)
    labels = segment_frame(image.astype(np.uint16), local)
    assert np.count_nonzero(np.unique(labels)) == 2
    assert labels[24, 12] and labels[24, 52]
    assert np.array_equal(labels > 0, left | right)
    # A global threshold cannot: the left disk is darker than the background on the right.
    assert segment_frame(image.astype(np.uint16), EXACT)[5, 60]


def test_even_block_size_is_refused() -> None:
    with pytest.raises(ValidationError, match="block_size must be odd"):
        BaselineConfig(block_size=50)


def test_link_settings_take_only_the_iou_threshold_from_the_baseline() -> None:
    link = LinkConfig(iou_threshold=0.5, parent_dilation=4, min_track_length=3)
    merged = baseline_link(BaselineConfig(iou_threshold=0.1), link)
    assert merged == LinkConfig(iou_threshold=0.1, parent_dilation=4, min_track_length=3)


def test_sequence_gives_the_known_tracks_and_scores(two_cells: Path, tmp_path: Path) -> None:
    # Otsu puts the threshold halfway up the step, so the masks are the drawn disks.
    res = tmp_path / "01_RES"
    run_baseline(two_cells / "01", res, BaselineConfig(sigma=1.0, threshold="otsu"), LinkConfig())
    assert (res / "res_track.txt").read_text() == "1 0 3 0\n2 1 3 0\n"
    gt = ctc.read_ground_truth(two_cells / "01_GT", 4)
    for t, path in enumerate(ctc.result_masks(res)):
        mask, truth = ctc.read_label_frame(path), ctc.read_label_frame(gt.tra[t])
        for label in (1, 2):
            both = np.count_nonzero((mask == label) & (truth == label))
            either = np.count_nonzero((mask == label) | (truth == label))
            assert either == 0 or both / either > 0.9, (t, label)
    scores = score(res, two_cells / "01_GT", EvaluateConfig(metrics=["SEG", "DET", "TRA"]))
    assert scores["SEG"] > 0.9
    assert scores["DET"] == pytest.approx(1.0) and scores["TRA"] == pytest.approx(1.0)


def test_defaults_track_the_sequence_exactly(two_cells: Path, tmp_path: Path) -> None:
    res = tmp_path / "01_RES"
    run_baseline(two_cells / "01", res, BaselineConfig(), LinkConfig())
    assert (res / "res_track.txt").read_text() == "1 0 3 0\n2 1 3 0\n"
    scores = score(res, two_cells / "01_GT", EvaluateConfig(metrics=["SEG", "DET", "TRA"]))
    assert scores["DET"] == pytest.approx(1.0) and scores["TRA"] == pytest.approx(1.0)
    assert scores["SEG"] > 0.8


def test_missing_frame_is_an_error_naming_it(two_cells: Path, tmp_path: Path) -> None:
    (two_cells / "01" / "t002.tif").unlink()
    with pytest.raises(ctc_layout.CtcFormatError, match=r"t002\.tif not found"):
        run_baseline(two_cells / "01", tmp_path / "01_RES", BaselineConfig(), LinkConfig())
    assert not (tmp_path / "01_RES").exists()
