"""Undoing divisions whose daughter lasts only a few frames, on hand-made track frames in Zarr."""

from pathlib import Path

import numpy as np
import zarr

from cosinetrack.algorithms.divisions import undo_short_divisions
from cosinetrack.formats.store import frame_array

SHAPE = (20, 30)


def frames_of(tmp: Path, labels: np.ndarray) -> zarr.Array:
    """Track frames (T, H, W) in a Zarr array, one chunk per frame, as the linker keeps them."""
    frames = frame_array(zarr.open_group(tmp / "tracks.zarr", mode="w"), "t", labels.shape, "u4")
    frames[:] = labels
    return frames


def split_cell(frames: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """A cell (track 1) whose right part is track 3 in frames 2-3 while the rest is track 2."""
    labels = np.zeros((frames, *SHAPE), np.uint32)
    labels[:2, 4:14, 4:20] = 1
    labels[2:, 4:14, 4:20] = 2
    labels[2:4, 4:14, 14:20] = 3
    tracks = np.array([[1, 0, 1, 0], [2, 2, frames - 1, 1], [3, 2, 3, 1]])
    return labels, tracks


def test_a_short_daughter_joins_her_sister_and_the_mother_continues(tmp_path: Path) -> None:
    labels, tracks = split_cell()
    frames = frames_of(tmp_path, labels)
    assert undo_short_divisions(tracks, frames, 3).tolist() == [[1, 0, 6, 0]]
    whole = np.zeros(SHAPE, np.uint32)
    whole[4:14, 4:20] = 1
    assert all((frames[t] == whole).all() for t in range(7))


def test_daughters_that_live_long_enough_stay_a_division(tmp_path: Path) -> None:
    labels, tracks = split_cell()
    frames = frames_of(tmp_path, labels)
    assert undo_short_divisions(tracks, frames, 2).tolist() == tracks.tolist()
    assert undo_short_divisions(tracks, frames, 1).tolist() == tracks.tolist()
    assert (frames[:] == labels).all()


def test_a_daughter_the_recording_or_the_border_cut_short_is_kept(tmp_path: Path) -> None:
    labels, tracks = split_cell()
    frames = frames_of(tmp_path, labels)
    assert undo_short_divisions(tracks, frames, 3, cut_short={3}).tolist() == tracks.tolist()


def test_a_short_daughter_touching_no_sister_loses_her_parent(tmp_path: Path) -> None:
    labels, tracks = split_cell()
    labels[2:4, 4:14, 14:16] = 0  # a gap of two pixels between the piece and the cell
    frames = frames_of(tmp_path, labels)
    table = undo_short_divisions(tracks, frames, 3).tolist()
    assert table == [[1, 0, 6, 0], [3, 2, 3, 0]]
    assert frames[2][5, 18] == 3 and frames[2][5, 5] == 1


def test_the_continued_mother_takes_her_daughters_grandchildren(tmp_path: Path) -> None:
    labels, tracks = split_cell(frames=8)
    labels[4:, 4:14, 4:20] = 0
    labels[4:, 4:14, 4:11], labels[4:, 4:14, 13:20] = 4, 5  # track 2 divides at frame 4
    tracks = np.array([[1, 0, 1, 0], [2, 2, 3, 1], [3, 2, 3, 1], [4, 4, 7, 2], [5, 4, 7, 2]])
    frames = frames_of(tmp_path, labels)
    table = undo_short_divisions(tracks, frames, 3).tolist()
    assert table == [[1, 0, 3, 0], [4, 4, 7, 1], [5, 4, 7, 1]]


def test_a_lone_daughter_after_a_gap_keeps_her_own_track(tmp_path: Path) -> None:
    labels, tracks = split_cell()
    labels[2] = 0  # the mother ends at frame 1, her daughters start at frame 3
    tracks = np.array([[1, 0, 1, 0], [2, 3, 6, 1], [3, 3, 4, 1]])
    labels[3:5, 4:14, 14:20] = 3
    labels[5:, 4:14, 14:20] = 2
    frames = frames_of(tmp_path, labels)
    table = undo_short_divisions(tracks, frames, 3).tolist()
    assert table == [[1, 0, 1, 0], [2, 3, 6, 0]]  # a CTC track has no frame without its mask
    assert frames[3][5, 18] == 2 and frames[1][5, 18] == 1
