"""The Cell Tracking Challenge folder layout: which files a sequence and its truth hold.

Names and numbering only, no pixels (standard library only), so the workflow can check a user's
folder while Snakemake builds the DAG.
"""

from __future__ import annotations

import re
from pathlib import Path

FRAME_PATTERN = re.compile(r"^t(\d{3,4})\.tif$")
SEG_PATTERN = re.compile(r"^man_seg_?(\d{3,4})\.tif$")
TRA_PATTERN = re.compile(r"^man_track(\d{3,4})\.tif$")


class CtcFormatError(ValueError):
    """A CTC folder, frame or track table that cannot be used as it is."""


def numbered_files(folder: Path, pattern: re.Pattern[str]) -> dict[int, Path]:
    """Map frame index to file for every file in `folder` whose name matches `pattern`."""
    if not folder.is_dir():
        raise CtcFormatError(f"{folder}: folder not found")
    found: dict[int, Path] = {}
    for path in sorted(folder.iterdir()):
        match = pattern.match(path.name)
        if match:
            index = int(match.group(1))
            if index in found:
                raise CtcFormatError(f"{path}: frame {index} also given by {found[index].name}")
            found[index] = path
    return found


def contiguous(found: dict[int, Path], folder: Path, example: str) -> list[Path]:
    """Return the files of frames 0..T-1 in order; a gap is an error naming the missing file."""
    if not found:
        raise CtcFormatError(f"{folder}: no frames named like {example}")
    for index in range(max(found) + 1):
        if index not in found:
            digits = len(re.sub(r"\D", "", next(iter(found.values())).name))
            raise CtcFormatError(
                f"{folder}: frame {index} is missing "
                f"({example.replace('000', f'{index:0{digits}d}')} "
                f"not found, but frames up to {max(found)} exist)"
            )
    return [found[i] for i in range(len(found))]


def frame_paths(sequence_dir: Path) -> list[Path]:
    """List the raw frames `t000.tif ...` of a sequence folder, checking that none is missing."""
    sequence_dir = Path(sequence_dir)
    return contiguous(numbered_files(sequence_dir, FRAME_PATTERN), sequence_dir, "t000.tif")


def segmentation_truth(truth_dir: Path, frames: int) -> dict[int, Path]:
    """The `SEG/man_seg*.tif` masks of a `{seq}_GT` or `{seq}_ST` folder by frame ({} if none)."""
    seg_dir = Path(truth_dir) / "SEG"
    seg = numbered_files(seg_dir, SEG_PATTERN) if seg_dir.is_dir() else {}
    beyond = [t for t in seg if t >= frames]
    if beyond:
        raise CtcFormatError(f"{seg[beyond[0]]}: SEG mask for frame {beyond[0]} of {frames}")
    return seg


def silver_truth(root: Path, sequence: str, frames: int) -> dict[int, Path]:
    """The silver segmentation truth `{seq}_ST/SEG/man_seg*.tif` of a sequence by frame."""
    return segmentation_truth(Path(root) / f"{sequence}_ST", frames)


def mask_name(prefix: str, t: int, frames: int) -> str:
    """Return the CTC file name of frame `t`: three digits, four when the sequence has > 1000."""
    digits = 4 if frames > 1000 else 3
    return f"{prefix}{t:0{digits}d}.tif"


# A folder of label images a user already has (Cellpose, StarDist, ...): any TIFF names.
LABEL_IMAGE_SUFFIXES = (".tif", ".tiff")


def natural_order(path: Path) -> tuple[list[tuple[int, int | str]], str]:
    """Sort key of a file name with its numbers compared by value (t2 before t10), then the name."""
    parts = re.split(r"(\d+)", path.name)
    key = [(0, int(part)) if part.isdigit() else (1, part) for part in parts if part]
    return key, path.name


def label_images(folder: Path) -> list[Path]:
    """The label images of a folder of per-frame masks, one per frame, in frame order.

    Every TIFF (`.tif`, `.tiff`, any case; hidden files aside) is a frame; they are ordered by
    file name with numbers compared by value, so `mask2.tif` comes before `mask10.tif`.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CtcFormatError(f"{folder}: folder of label images not found")
    found = [
        path
        for path in folder.iterdir()
        if path.suffix.lower() in LABEL_IMAGE_SUFFIXES
        and not path.name.startswith(".")
        and path.is_file()
    ]
    if not found:
        raise CtcFormatError(f"{folder}: no label images (*.tif, *.tiff) in this folder")
    return sorted(found, key=natural_order)
