"""Cell Tracking Challenge (CTC) layout: read sequences and ground truth, write and check results.

Layout of a dataset folder: `01/t000.tif ...` (or `t0000.tif`), `01_GT/SEG/man_seg000.tif ...`
(gold segmentation truth: few frames, in some datasets not every cell), `01_GT/TRA/man_track000.tif
...` with `01_GT/TRA/man_track.txt` (gold tracking truth: every cell, often only a marker inside
it), and where the challenge made one `01_ST/SEG/man_seg000.tif ...` (silver segmentation truth:
computer-made, every cell of every frame); results go to `01_RES/mask000.tif ...` and
`01_RES/res_track.txt`. A track table has one line `L B E P` per
track: label, first frame, last frame, parent label (0 for none).
"""

from __future__ import annotations

import logging
import re
import shutil
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from cosinetrack.formats.atomic import atomic_path
from cosinetrack.formats.ctc_layout import (  # the layout, read through this module too
    TRA_PATTERN,
    CtcFormatError,
    contiguous,
    mask_name,
    numbered_files,
    segmentation_truth,
)

logger = logging.getLogger(__name__)


UINT16_MAX = 65535


@dataclass(frozen=True)
class GroundTruth:
    """Paths of one sequence's ground truth: TRA masks on every frame, SEG masks where annotated."""

    tra: list[Path]
    seg: dict[int, Path]
    tracks: np.ndarray  # (N, 4) int64 rows L B E P


def frame_shape(path: Path) -> tuple[int, int]:
    """Return the (height, width) of a 2-D TIFF frame without reading its pixels."""
    try:
        with tifffile.TiffFile(path) as tif:
            shape = tuple(d for d in tif.series[0].shape if d != 1)
    except Exception as error:
        raise CtcFormatError(f"{path}: unreadable TIFF ({error})") from error
    if len(shape) != 2:
        raise CtcFormatError(
            f"{path}: frame has shape {shape}; only 2-D frames (height, width) are supported"
        )
    return (int(shape[0]), int(shape[1]))


def check_shapes(paths: Iterable[Path]) -> tuple[int, int]:
    """Return the common frame shape, or raise naming the first frame whose shape differs."""
    paths = list(paths)
    first = frame_shape(paths[0])
    for path in paths[1:]:
        shape = frame_shape(path)
        if shape != first:
            raise CtcFormatError(f"{path}: shape {shape} differs from {first} of {paths[0].name}")
    return first


def read_frame(path: Path) -> np.ndarray:
    """Read one 2-D frame, naming the file when it cannot be read or is not 2-D."""
    try:
        image = tifffile.imread(path)
    except Exception as error:
        raise CtcFormatError(f"{path}: unreadable TIFF ({error})") from error
    image = np.squeeze(image)
    if image.ndim != 2:
        raise CtcFormatError(f"{path}: frame has shape {image.shape}; expected (height, width)")
    return image


def read_label_frame(path: Path) -> np.ndarray:
    """Read a label mask and check it holds non-negative integers."""
    labels = read_frame(path)
    if not np.issubdtype(labels.dtype, np.integer):
        raise CtcFormatError(f"{path}: label masks must be integer images, got {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise CtcFormatError(f"{path}: label masks must not hold negative values")
    return labels


def read_gt_label_frame(path: Path) -> np.ndarray:
    """Read a ground-truth mask as uint16, refusing labels that uint16 (and the CTC) cannot hold."""
    labels = read_label_frame(path)
    if labels.size and int(labels.max()) > UINT16_MAX:
        raise CtcFormatError(
            f"{path}: label {int(labels.max())} is above {UINT16_MAX}, the largest label the "
            f"Cell Tracking Challenge format and its evaluator hold; renumber the labels from 1"
        )
    return labels.astype(np.uint16, copy=False)


def parse_track_line(line: str, path: Path, number: int) -> tuple[int, int, int, int]:
    """Parse one `L B E P` line, raising with the file and line number on a malformed line."""
    fields = line.split()
    if len(fields) != 4:
        raise CtcFormatError(f"{path}, line {number}: expected 4 fields 'L B E P', got {line!r}")
    try:
        label, begin, end, parent = (int(field) for field in fields)
    except ValueError:
        raise CtcFormatError(
            f"{path}, line {number}: fields must be integers, got {line!r}"
        ) from None
    if label <= 0 or begin < 0 or parent < 0:
        raise CtcFormatError(
            f"{path}, line {number}: label must be > 0, begin and parent >= 0, got {line!r}"
        )
    if begin > end:
        raise CtcFormatError(
            f"{path}, line {number}: track {label} begins ({begin}) after it ends ({end})"
        )
    return label, begin, end, parent


def read_track_table(path: Path) -> np.ndarray:
    """Read and check a `man_track.txt` / `res_track.txt` table into an (N, 4) array L B E P."""
    path = Path(path)
    if not path.is_file():
        raise CtcFormatError(f"{path}: track table not found")
    rows: list[tuple[int, int, int, int]] = []
    lines: dict[int, int] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        row = parse_track_line(line, path, number)
        if row[0] in lines:
            raise CtcFormatError(
                f"{path}, line {number}: label {row[0]} already defined on line {lines[row[0]]}"
            )
        lines[row[0]] = number
        rows.append(row)
    tracks = np.array(rows, dtype=np.int64).reshape(-1, 4)
    check_parents(tracks, path, lines)
    return tracks


def check_parents(tracks: np.ndarray, path: Path, lines: dict[int, int]) -> None:
    """Check that every parent exists and ends before its daughter begins."""
    ends = {int(label): int(end) for label, _, end, _ in tracks}
    for label, begin, _, parent in tracks:
        if parent == 0:
            continue
        where = f"{path}, line {lines[int(label)]}"
        if parent not in ends:
            raise CtcFormatError(f"{where}: parent {parent} of track {label} is not in the table")
        if ends[int(parent)] >= begin:
            raise CtcFormatError(
                f"{where}: parent {parent} ends at frame {ends[int(parent)]}, not before its "
                f"daughter {label} begins at frame {begin}"
            )


def track_spans(tracks: np.ndarray) -> dict[int, tuple[int, int]]:
    """Map each track label to its (first, last) frame."""
    return {int(label): (int(begin), int(end)) for label, begin, end, _ in tracks}


def check_frame_labels(
    path: Path, labels: np.ndarray, t: int, spans: dict[int, tuple[int, int]]
) -> None:
    """Check that the mask of frame `t` holds exactly the tracks alive in it (`B <= t <= E`)."""
    present = set(np.unique(labels).tolist()) - {0}
    for label in sorted(present):
        if label not in spans:
            raise CtcFormatError(f"{path}: label {label} is not in the track table")
        begin, end = spans[label]
        if not begin <= t <= end:
            raise CtcFormatError(
                f"{path}: label {label} present in frame {t}, outside its span {begin}..{end}"
            )
    absent = sorted(
        label for label, (b, e) in spans.items() if b <= t <= e and label not in present
    )
    if absent:
        raise CtcFormatError(
            f"{path}: tracks {absent[:10]} are alive in frame {t} but absent from the mask"
        )


def check_masks_against_tracks(mask_paths: list[Path], tracks: np.ndarray) -> None:
    """Check every mask of a sequence against its track table, one frame at a time."""
    spans = track_spans(tracks)
    for label, (_, end) in spans.items():
        if end >= len(mask_paths):
            raise CtcFormatError(
                f"track {label} ends at frame {end}, but there are only {len(mask_paths)} masks"
            )
    for t, path in enumerate(mask_paths):
        check_frame_labels(path, read_label_frame(path), t, spans)


def read_ground_truth(gt_dir: Path, frames: int, check_masks: bool = True) -> GroundTruth:
    """Read and check a sequence's `{seq}_GT` folder (TRA on every frame, SEG possibly sparse)."""
    gt_dir = Path(gt_dir)
    tra_dir = gt_dir / "TRA"
    tra = contiguous(numbered_files(tra_dir, TRA_PATTERN), tra_dir, "man_track000.tif")
    if len(tra) != frames:
        raise CtcFormatError(
            f"{tra_dir}: {len(tra)} TRA masks, but the sequence (or its result) has {frames} frames"
        )
    tracks = read_track_table(tra_dir / "man_track.txt")
    if int(tracks[:, 0].max(initial=0)) > UINT16_MAX:
        raise CtcFormatError(
            f"{tra_dir / 'man_track.txt'}: track label {int(tracks[:, 0].max())} is above "
            f"{UINT16_MAX}, the largest label the Cell Tracking Challenge format holds; "
            f"renumber the tracks"
        )
    late = tracks[tracks[:, 2] >= frames]
    if len(late):
        raise CtcFormatError(
            f"{tra_dir / 'man_track.txt'}: track {late[0, 0]} ends at frame {late[0, 2]}, "
            f"but the sequence has {frames} frames"
        )
    if check_masks:
        check_masks_against_tracks(tra, tracks)
    return GroundTruth(tra=tra, seg=segmentation_truth(gt_dir, frames), tracks=tracks)


def write_label_frame(path: Path, labels: np.ndarray) -> None:
    """Write one uint16 label mask (zlib-compressed), refusing labels that do not fit."""
    if labels.size and int(labels.max()) > UINT16_MAX:
        raise CtcFormatError(f"{path}: label {int(labels.max())} does not fit into uint16")
    tifffile.imwrite(path, labels.astype(np.uint16), compression="zlib")


def write_track_table(path: Path, tracks: np.ndarray) -> None:
    """Write an (N, 4) track table as `L B E P` lines, sorted by label."""
    rows = sorted(np.asarray(tracks, dtype=np.int64).reshape(-1, 4).tolist())
    path.write_text("".join(f"{l} {b} {e} {p}\n" for l, b, e, p in rows))  # noqa: E741


def compact_labels(tracks: np.ndarray) -> dict[int, int]:
    """Map track labels to 1..N in order, so labels stay small enough for the evaluator."""
    return {int(old): new for new, old in enumerate(sorted(tracks[:, 0].tolist()), start=1)}


def relabel(
    labels: np.ndarray, mapping: dict[int, int], dtype: np.dtype | type = np.uint16
) -> np.ndarray:
    """Apply a label mapping to a mask; labels not in the mapping become 0 (background)."""
    lookup = np.zeros(int(labels.max(initial=0)) + 1, dtype=dtype)
    for old, new in mapping.items():
        if old < len(lookup):
            lookup[old] = new
    return lookup[labels]


def write_result(
    res_dir: Path, masks: Iterable[np.ndarray], tracks: np.ndarray, frames: int
) -> None:
    """Write a CTC result folder atomically: masks and table go to a temporary folder, then move.

    Labels are compacted to 1..N. Nothing is left at `res_dir` unless every file was written.
    """
    res_dir = Path(res_dir)
    mapping, compacted = compact_result(tracks)
    with atomic_path(res_dir) as partial:
        partial.mkdir()
        written = 0
        for t, mask in enumerate(masks):
            write_label_frame(partial / mask_name("mask", t, frames), relabel(mask, mapping))
            written += 1
        if written != frames:
            raise CtcFormatError(f"{res_dir}: got {written} masks for {frames} frames")
        write_track_table(partial / "res_track.txt", compacted)


def compact_result(tracks: np.ndarray) -> tuple[dict[int, int], np.ndarray]:
    """The label mapping to 1..N of a result's tracks, and its table (N, 4) in the new labels."""
    tracks = np.asarray(tracks, dtype=np.int64).reshape(-1, 4)
    mapping = compact_labels(tracks)
    compacted = tracks.copy()
    compacted[:, 0] = [mapping[int(label)] for label in tracks[:, 0]]
    compacted[:, 3] = [mapping.get(int(parent), 0) for parent in tracks[:, 3]]
    return mapping, compacted


def result_masks(res_dir: Path) -> list[Path]:
    """List the `mask###.tif` files of a result folder, checking that none is missing."""
    res_dir = Path(res_dir)
    pattern = re.compile(r"^mask(\d{3,4})\.tif$")
    return contiguous(numbered_files(res_dir, pattern), res_dir, "mask000.tif")


def check_result(res_dir: Path, frames: int, max_gt_label: int | None = None) -> None:
    """Check a result folder as the CTC evaluator would, raising with the reason if it is invalid.

    Runs py-ctcmetrics' own validity check on non-empty results (an empty result, all masks zero and
    no tracks, is well-formed but unscorable), and refuses labels that would overflow the
    evaluator's uint16 label offset when `max_gt_label` is given.
    """
    from ctc_metrics.metrics import valid

    res_dir = Path(res_dir)
    masks = result_masks(res_dir)
    if len(masks) != frames:
        raise CtcFormatError(f"{res_dir}: {len(masks)} masks for {frames} frames")
    tracks = read_track_table(res_dir / "res_track.txt")
    check_masks_against_tracks(masks, tracks)
    if len(tracks) == 0:
        return
    if max_gt_label is not None and max_gt_label + 1 + int(tracks[:, 0].max()) > UINT16_MAX:
        raise CtcFormatError(
            f"{res_dir}: largest label {int(tracks[:, 0].max())} plus the largest "
            f"ground-truth label "
            f"{max_gt_label} exceeds 65535, which py-ctcmetrics mis-scores; compact the labels"
        )
    labels = [np.unique(read_label_frame(p)).tolist() for p in masks]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ok = valid(masks, tracks, labels)
    if not ok:
        reasons = "; ".join(str(w.message) for w in caught) or "no reason given"
        raise CtcFormatError(f"{res_dir}: py-ctcmetrics marks the result invalid: {reasons}")


def iter_frames(paths: Iterable[Path]) -> Iterator[np.ndarray]:
    """Yield frames one at a time, so a whole sequence never sits in memory."""
    for path in paths:
        yield read_frame(path)


def slice_tracks(tracks: np.ndarray, start: int, stop: int) -> np.ndarray:
    """The rows L B E P of the tracks alive in frames [start, stop), renumbered from `start`.

    A parent outside the slice (or one that does not end before its child begins in it) is
    dropped, so the table stays a valid CTC lineage.
    """
    alive = tracks[(tracks[:, 2] >= start) & (tracks[:, 1] < stop)].copy()
    ends = {int(row[0]): int(min(row[2], stop - 1)) for row in alive}
    alive[:, 1] = np.maximum(alive[:, 1], start) - start
    alive[:, 2] = np.minimum(alive[:, 2], stop - 1) - start
    for row in alive:
        parent = int(row[3])
        if parent not in ends or ends[parent] - start >= row[1]:
            row[3] = 0
    return alive


def write_ground_truth_slice(gt_dir: Path, start: int, stop: int, out_dir: Path) -> None:
    """Write frames [start, stop) of a `{seq}_GT` folder as a GT folder of its own (frames 0..)."""
    gt_dir, out_dir = Path(gt_dir), Path(out_dir)
    frames = len(numbered_files(gt_dir / "TRA", TRA_PATTERN))
    gt = read_ground_truth(gt_dir, frames, check_masks=False)
    count = stop - start
    (out_dir / "TRA").mkdir(parents=True, exist_ok=True)
    for t in range(start, stop):
        shutil.copyfile(gt.tra[t], out_dir / "TRA" / mask_name("man_track", t - start, count))
    write_track_table(out_dir / "TRA" / "man_track.txt", slice_tracks(gt.tracks, start, stop))
    seg = {t: path for t, path in gt.seg.items() if start <= t < stop}
    if seg:
        (out_dir / "SEG").mkdir(parents=True, exist_ok=True)
    for t, path in seg.items():
        shutil.copyfile(path, out_dir / "SEG" / mask_name("man_seg", t - start, count))
