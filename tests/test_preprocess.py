from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from cosinetrack.config import PreprocessConfig
from cosinetrack.preprocess import merge_ground_truth, normalise, run_preprocess


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


def test_merge_reidentifies_seg_labels_by_overlap() -> None:
    tra = np.zeros((10, 10), np.uint16)
    tra[2:4, 2:4] = 5  # marker of track 5
    tra[6:8, 6:8] = 9  # marker of track 9
    seg = np.zeros((10, 10), np.uint16)
    seg[1:5, 1:5] = 2  # SEG object 2 covers track 5
    seg[5:9, 5:9] = 1  # SEG object 1 covers track 9
    seg[0, 8:10] = 3  # SEG object without marker
    merged, next_id = merge_ground_truth(tra, seg, next_id=10)
    assert merged.full_seg and merged.unmatched == 1 and next_id == 11
    assert set(np.unique(merged.labels[1:5, 1:5])) == {5}
    assert set(np.unique(merged.labels[5:9, 5:9])) == {9}
    assert merged.labels[0, 9] == 10


def test_frame_with_partial_seg_is_not_full() -> None:
    tra = np.zeros((10, 10), np.uint16)
    tra[2:4, 2:4], tra[6:8, 6:8] = 5, 9
    seg = np.zeros((10, 10), np.uint16)
    seg[1:5, 1:5] = 1
    merged, _ = merge_ground_truth(tra, seg, next_id=10)
    assert not merged.full_seg
    assert merged.labels[6, 6] == 9  # the marker survives where SEG is missing
    merged, _ = merge_ground_truth(tra, None, next_id=10)
    assert not merged.full_seg and np.array_equal(merged.labels, tra)


def test_run_preprocess_writes_store(two_cells: Path, tmp_path: Path) -> None:
    out = tmp_path / "prep" / "01.zarr"
    run_preprocess(two_cells, "01", out, PreprocessConfig(sigma=0.5))
    group = zarr.open_group(out, mode="r")
    assert group["image"].shape == (4, 48, 64) and group["image"].dtype == np.float32
    assert group["image"].chunks == (1, 48, 64)
    assert group["labels"].dtype == np.uint16
    assert group["full_seg"][:].tolist() == [True, False, True, False]
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
