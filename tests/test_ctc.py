from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tifffile

from cosinetrack.formats import ctc, ctc_layout
from cosinetrack.formats.ctc_layout import CtcFormatError


def test_frame_paths_accepts_three_and_four_digits(tmp_path: Path) -> None:
    for digits, folder in ((3, tmp_path / "a"), (4, tmp_path / "b")):
        folder.mkdir()
        for t in range(3):
            tifffile.imwrite(folder / f"t{t:0{digits}d}.tif", np.zeros((4, 5), np.uint16))
        assert [p.name for p in ctc_layout.frame_paths(folder)] == [
            f"t{t:0{digits}d}.tif" for t in range(3)
        ]


def test_missing_frame_is_named(two_cells: Path) -> None:
    (two_cells / "01" / "t002.tif").unlink()
    with pytest.raises(CtcFormatError, match=r"frame 2 is missing \(t002\.tif"):
        ctc_layout.frame_paths(two_cells / "01")


def test_unreadable_frame_is_named(two_cells: Path) -> None:
    (two_cells / "01" / "t001.tif").write_bytes(b"not a tiff")
    with pytest.raises(CtcFormatError, match=r"t001\.tif: unreadable TIFF"):
        ctc.check_shapes(ctc_layout.frame_paths(two_cells / "01"))


def test_frame_of_other_shape_is_named(two_cells: Path) -> None:
    tifffile.imwrite(two_cells / "01" / "t003.tif", np.zeros((10, 10), np.uint16))
    with pytest.raises(
        CtcFormatError, match=r"t003\.tif: shape \(10, 10\) differs from \(48, 64\)"
    ):
        ctc.check_shapes(ctc_layout.frame_paths(two_cells / "01"))


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("1 0 3 0\n2 1 x 0\n", r"line 2: fields must be integers"),
        ("1 0 3 0\n2 1 3\n", r"line 2: expected 4 fields"),
        ("1 0 3 0\n2 3 1 0\n", r"line 2: track 2 begins \(3\) after it ends \(1\)"),
        ("1 0 3 0\n2 1 3 7\n", r"line 2: parent 7 of track 2 is not in the table"),
        ("1 0 3 0\n2 1 3 1\n", r"line 2: parent 1 ends at frame 3, not before its daughter 2"),
        ("1 0 3 0\n1 1 3 0\n", r"line 2: label 1 already defined on line 1"),
        ("1 0 3 0\n0 1 3 0\n", r"line 2: label must be > 0"),
    ],
)
def test_malformed_track_table_names_file_and_line(
    tmp_path: Path, table: str, message: str
) -> None:
    path = tmp_path / "man_track.txt"
    path.write_text(table)
    with pytest.raises(CtcFormatError, match=rf"man_track\.txt, {message}"):
        ctc.read_track_table(path)


def test_label_outside_its_span_is_named(two_cells: Path) -> None:
    tra = two_cells / "01_GT" / "TRA"
    ctc.write_track_table(tra / "man_track.txt", np.array([[1, 0, 3, 0], [2, 2, 3, 0]]))
    with pytest.raises(CtcFormatError, match=r"man_track001\.tif: label 2 present in frame 1"):
        ctc.read_ground_truth(two_cells / "01_GT", 4)


def test_track_alive_but_absent_is_named(two_cells: Path) -> None:
    tra = two_cells / "01_GT" / "TRA"
    ctc.write_track_table(tra / "man_track.txt", np.array([[1, 0, 3, 0], [2, 0, 3, 0]]))
    with pytest.raises(CtcFormatError, match=r"man_track000\.tif: tracks \[2\] are alive"):
        ctc.read_ground_truth(two_cells / "01_GT", 4)


def test_track_beyond_last_frame_is_named(two_cells: Path) -> None:
    tra = two_cells / "01_GT" / "TRA"
    ctc.write_track_table(tra / "man_track.txt", np.array([[1, 0, 4, 0], [2, 1, 3, 0]]))
    with pytest.raises(CtcFormatError, match=r"track 1 ends at frame 4, but the sequence has 4"):
        ctc.read_ground_truth(two_cells / "01_GT", 4)


def test_read_ground_truth(two_cells: Path) -> None:
    gt = ctc.read_ground_truth(two_cells / "01_GT", 4)
    assert len(gt.tra) == 4
    assert sorted(gt.seg) == [0, 2]
    assert gt.tracks.tolist() == [[1, 0, 3, 0], [2, 1, 3, 0]]


def division_masks() -> tuple[list[np.ndarray], np.ndarray]:
    """A mother (label 500) that divides into 70000 and 9 at frame 2; labels far from 1..N."""
    masks = [np.zeros((8, 8), np.int64) for _ in range(4)]
    masks[0][1:3, 1:3] = masks[1][1:3, 1:3] = 500
    for t in (2, 3):
        masks[t][0:2, 0:2] = 70000
        masks[t][4:6, 4:6] = 9
    tracks = np.array([[500, 0, 1, 0], [70000, 2, 3, 500], [9, 2, 3, 500]])
    return masks, tracks


def test_write_result_compacts_labels_and_keeps_lineage(tmp_path: Path) -> None:
    masks, tracks = division_masks()
    res = tmp_path / "01_RES"
    ctc.write_result(res, masks, tracks, frames=4)
    assert sorted(p.name for p in res.iterdir()) == [
        "mask000.tif",
        "mask001.tif",
        "mask002.tif",
        "mask003.tif",
        "res_track.txt",
    ]
    assert (res / "res_track.txt").read_text() == "1 2 3 2\n2 0 1 0\n3 2 3 2\n"
    frame = tifffile.imread(res / "mask002.tif")
    assert frame.dtype == np.uint16
    assert frame[0, 0] == 3 and frame[4, 4] == 1 and frame[7, 7] == 0
    assert not (tmp_path / "01_RES.partial").exists()
    ctc.check_result(res, frames=4)


def test_write_result_with_too_few_masks_leaves_nothing(tmp_path: Path) -> None:
    masks, tracks = division_masks()
    with pytest.raises(CtcFormatError, match="got 3 masks for 4 frames"):
        ctc.write_result(tmp_path / "01_RES", masks[:3], tracks, frames=4)
    assert list(tmp_path.iterdir()) == []


def test_a_mask_that_fails_to_arrive_leaves_the_earlier_result_untouched(tmp_path: Path) -> None:
    """An error mid-stream (the linker raising, say) leaves no partial folder and the old result."""
    masks, tracks = division_masks()
    res = tmp_path / "01_RES"
    ctc.write_result(res, masks, tracks, frames=4)
    before = {p.name: p.read_bytes() for p in res.iterdir()}

    def failing() -> Iterator[np.ndarray]:
        yield from masks[:2]
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        ctc.write_result(res, failing(), tracks, frames=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01_RES"]
    assert {p.name: p.read_bytes() for p in res.iterdir()} == before


def test_check_result_rejects_table_that_disagrees_with_masks(tmp_path: Path) -> None:
    masks, tracks = division_masks()
    res = tmp_path / "01_RES"
    ctc.write_result(res, masks, tracks, frames=4)
    (res / "res_track.txt").write_text("1 2 3 0\n2 0 1 0\n3 2 3 2\n4 3 3 0\n")
    with pytest.raises(CtcFormatError, match=r"tracks \[4\] are alive in frame 3"):
        ctc.check_result(res, frames=4)


def test_check_result_refuses_labels_the_evaluator_would_overflow(tmp_path: Path) -> None:
    res = tmp_path / "01_RES"
    res.mkdir()
    mask = np.zeros((4, 4), np.uint16)
    mask[0, 0] = 60000
    tifffile.imwrite(res / "mask000.tif", mask)
    (res / "res_track.txt").write_text("60000 0 0 0\n")
    ctc.check_result(res, frames=1, max_gt_label=10)
    with pytest.raises(CtcFormatError, match="exceeds 65535"):
        ctc.check_result(res, frames=1, max_gt_label=6000)


def test_empty_result_is_well_formed(tmp_path: Path) -> None:
    res = tmp_path / "01_RES"
    ctc.write_result(res, [np.zeros((5, 5), np.uint16)] * 3, np.zeros((0, 4)), frames=3)
    assert (res / "res_track.txt").read_text() == ""
    ctc.check_result(res, frames=3)
