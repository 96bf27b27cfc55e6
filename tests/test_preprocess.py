from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr
from scipy import ndimage

from cosinetrack.config.sections import PreprocessConfig
from cosinetrack.stages.preprocess import merge_ground_truth, normalise, run_preprocess


def test_normalise_maps_quantiles_to_minus_one_and_one() -> None:
    image = np.arange(100, dtype=np.uint16).reshape(10, 10)
    cfg = PreprocessConfig(sigma=0, low_quantile=0.0, high_quantile=1.0)
    out, low, high = normalise(image, cfg, "frame")
    assert (low, high) == (0.0, 99.0)
    assert out.dtype == np.float32
    assert out.min() == pytest.approx(-1.0) and out.max() == pytest.approx(1.0)


def test_normalise_rejects_nan() -> None:
    image = np.ones((4, 4), np.float32)
    image[1, 1] = np.nan
    with pytest.raises(ValueError, match=r"t007\.tif: frame contains NaN"):
        normalise(image, PreprocessConfig(), "t007.tif")


def markers_5_and_9() -> np.ndarray:
    """A TRA frame with the markers of tracks 5 and 9."""
    tra = np.zeros((10, 10), np.uint16)
    tra[2:4, 2:4] = 5
    tra[6:8, 6:8] = 9
    return tra


def test_merge_reidentifies_seg_labels_by_overlap() -> None:
    tra = markers_5_and_9()
    seg = np.zeros((10, 10), np.uint16)
    seg[1:5, 1:5] = 2  # SEG object 2 covers track 5
    seg[5:9, 5:9] = 1  # SEG object 1 covers track 9
    seg[0, 8:10] = 3  # SEG object without marker
    merged, next_id = merge_ground_truth(tra, [seg], next_id=10, marker_margin=3)
    assert (merged.masked, merged.markers, merged.unmatched, next_id) == (3, 0, 1, 11)
    assert set(np.unique(merged.labels[1:5, 1:5])) == {5}
    assert set(np.unique(merged.labels[5:9, 5:9])) == {9}
    assert merged.labels[0, 9] == 10
    # every cell has its mask: the background is every other pixel, exactly
    assert np.array_equal(merged.background, merged.labels == 0)


def test_background_keeps_a_margin_around_a_cell_known_by_its_marker() -> None:
    tra = markers_5_and_9()
    seg = np.zeros((10, 10), np.uint16)
    seg[1:5, 1:5] = 1  # track 5 has its outline, track 9 only its marker
    merged, _ = merge_ground_truth(tra, [seg], next_id=10, marker_margin=2)
    assert (merged.masked, merged.markers) == (1, 1)
    assert merged.labels[6, 6] == 9  # the marker survives where SEG is missing
    distance = ndimage.distance_transform_edt(tra != 9)
    assert not merged.background[(distance <= 2)].any()
    assert merged.background[(distance > 2) & (merged.labels == 0)].all()
    assert not merged.background[merged.labels > 0].any()


def test_markers_only_still_teach_the_background_far_from_them() -> None:
    tra = markers_5_and_9()
    merged, _ = merge_ground_truth(tra, [], next_id=10, marker_margin=1.5)
    assert np.array_equal(merged.labels, tra) and merged.markers == 2
    assert merged.background[0, 9] and merged.background[9, 0]
    assert not merged.background[1, 1] and not merged.background[4, 4]


def test_silver_fills_in_only_the_cells_gold_leaves_out() -> None:
    tra = markers_5_and_9()
    gold = np.zeros((10, 10), np.uint16)
    gold[1:5, 1:5] = 1  # track 5
    silver = np.zeros((10, 10), np.uint16)
    silver[1:6, 1:6] = 7  # track 5 again, larger: gold wins
    silver[6:9, 6:9] = 8  # track 9, which gold left out
    merged, _ = merge_ground_truth(tra, [gold, silver], next_id=10, marker_margin=3)
    assert (merged.masked, merged.markers, merged.skipped) == (2, 0, 0)
    assert set(np.unique(merged.labels[1:5, 1:5])) == {5}
    assert merged.labels[5, 5] == 0 and not merged.background[5, 5]  # silver's extra: unknown
    assert set(np.unique(merged.labels[6:9, 6:9])) == {9}


def test_a_mask_over_two_markers_is_left_out() -> None:
    tra = markers_5_and_9()
    silver = np.zeros((10, 10), np.uint16)
    silver[1:9, 1:9] = 1  # two cells merged into one mask
    merged, _ = merge_ground_truth(tra, [silver], next_id=10, marker_margin=0)
    assert merged.skipped == 1 and merged.markers == 2
    assert np.array_equal(merged.labels, tra)
    assert not merged.background[1:9, 1:9].any() and merged.background[0, 0]


def test_run_preprocess_writes_store(two_cells: Path, tmp_path: Path) -> None:
    out = tmp_path / "prep" / "01.zarr"
    run_preprocess(two_cells, "01", out, PreprocessConfig(sigma=0.5))
    group = zarr.open_group(out, mode="r")
    assert group["image"].shape == (4, 48, 64) and group["image"].dtype == np.float32
    assert group["image"].chunks == (1, 48, 64)
    assert group["labels"].dtype == np.uint16
    labels, background = group["labels"][:], group["background"][:]
    complete = [
        np.array_equal(known, frame == 0) for known, frame in zip(background, labels, strict=True)
    ]
    assert complete == [True, False, True, False]  # SEG frames: every unlabelled pixel
    assert group["background_pixels"][:].tolist() == group["background"][:].sum((1, 2)).tolist()
    labels = group["labels"][:]
    assert set(np.unique(labels[2])) == {0, 1, 2}  # SEG labels 11, 12 mapped back to tracks
    assert group.attrs["preprocess"] == PreprocessConfig(sigma=0.5).model_dump()
    assert group.attrs["frames"] == 4 and group.attrs["has_ground_truth"]
    image = group["image"][:]
    assert -1.2 < image.min() < -0.8 and 0.8 < image.max() < 1.2
    assert not out.with_name("01.zarr.partial").exists()


def test_run_preprocess_without_gt(two_cells: Path, tmp_path: Path) -> None:
    import shutil

    shutil.rmtree(two_cells / "01_GT")
    out = tmp_path / "01.zarr"
    run_preprocess(two_cells, "01", out, PreprocessConfig())
    group = zarr.open_group(out, mode="r")
    assert "labels" not in group and not group.attrs["has_ground_truth"]


def test_bad_frame_leaves_no_store(two_cells: Path, tmp_path: Path) -> None:
    tifffile.imwrite(two_cells / "01" / "t002.tif", np.full((48, 64), np.nan, np.float32))
    out = tmp_path / "01.zarr"
    with pytest.raises(ValueError, match=r"t002\.tif: frame contains NaN"):
        run_preprocess(two_cells, "01", out, PreprocessConfig())
    assert not out.exists() and not out.with_name("01.zarr.partial").exists()


def test_scale_resizes_image_and_labels(two_cells: Path, tmp_path: Path) -> None:
    out = tmp_path / "01.zarr"
    run_preprocess(two_cells, "01", out, PreprocessConfig(scale=0.5))
    group = zarr.open_group(out, mode="r")
    assert group["image"].shape == group["labels"].shape == (4, 24, 32)
    assert group.attrs["original_shape"] == [48, 64]
    assert set(np.unique(group["labels"][1])) == {0, 1, 2}
