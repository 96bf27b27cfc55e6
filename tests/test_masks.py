"""Masks a user already has, tracked as given: `cosinetrack link-masks` (stages/link_masks.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from conftest import two_cell_labels

from cosinetrack.config.sections import LinkConfig
from cosinetrack.formats import ctc_layout
from cosinetrack.stages.link_masks import compact, run_link_masks


def test_label_images_are_ordered_by_the_numbers_in_their_names(tmp_path: Path) -> None:
    for name in ("m10.tif", "m2.TIFF", "m1.tif", ".m3.tif", "notes.txt", "m02b.tif"):
        (tmp_path / name).write_bytes(b"")
    found = [path.name for path in ctc_layout.label_images(tmp_path)]
    assert found == ["m1.tif", "m2.TIFF", "m02b.tif", "m10.tif"]


def test_any_integer_labels_are_numbered_from_one() -> None:
    labels = np.array([[0, 7, 7], [2**31 - 1, 0, 5]], np.int64)
    assert compact(labels).tolist() == [[0, 2, 2], [3, 0, 1]]
    assert compact(np.array([[9, 4]])).tolist() == [[2, 1]]  # no background at all


@pytest.fixture
def own(tmp_path: Path) -> Path:
    """A CTC sequence 02 of 4 frames (48 x 64) and its own masks in masks/02, as given."""
    labels = two_cell_labels(frames=4)
    (tmp_path / "data" / "02").mkdir(parents=True)
    (tmp_path / "masks" / "02").mkdir(parents=True)
    for t, frame in enumerate(labels):
        tifffile.imwrite(tmp_path / "data" / "02" / f"t{t:03d}.tif", frame * 100)
        tifffile.imwrite(tmp_path / "masks" / "02" / f"{t}.tif", frame)
    return tmp_path


@pytest.mark.parametrize(
    ("image", "told"),
    [
        (np.zeros((3, 48, 64), np.uint16), r"2\.tif: frame has shape \(3, 48, 64\); only 2-D"),
        (np.zeros((48, 64), np.float32), r"2\.tif: label masks must be integer images, got float"),
        (np.zeros((40, 64), np.uint16), r"2\.tif: shape \(40, 64\) differs from \(48, 64\) of"),
        (np.full((48, 64), -1, np.int16), r"2\.tif: label masks must not hold negative values"),
    ],
)
def test_a_mask_that_is_no_label_image_is_refused_naming_it(
    own: Path, image: np.ndarray, told: str
) -> None:
    tifffile.imwrite(own / "masks" / "02" / "2.tif", image, photometric="minisblack")
    with pytest.raises(ctc_layout.CtcFormatError, match=told):
        run_link_masks(own / "masks/02", own / "02_RES", LinkConfig(), own / "data/02")
    assert not (own / "02_RES").exists()


def test_masks_of_another_size_than_the_frames_are_refused(own: Path) -> None:
    for path in (own / "data" / "02").iterdir():
        tifffile.imwrite(path, np.zeros((48, 60), np.uint16))
    with pytest.raises(ctc_layout.CtcFormatError, match=r"0\.tif: shape \(48, 64\) differs from"):
        run_link_masks(own / "masks/02", own / "02_RES", LinkConfig(), own / "data/02")


def test_a_mask_per_frame_is_required(own: Path) -> None:
    (own / "masks" / "02" / "3.tif").unlink()
    with pytest.raises(ctc_layout.CtcFormatError, match=r"3 label images, but .* has 4 frames"):
        run_link_masks(own / "masks/02", own / "02_RES", LinkConfig(), own / "data/02")
