"""Tracking masks a user already has: per-frame label images linked as the baseline's are.

A folder of label images (Cellpose, StarDist or any other segmentation, one TIFF per frame, any
integer labels, labels free to change from frame to frame) is read frame by frame and handed to
`link.write_tracks`, the linker the embedding method and the baseline use: each frame's masks are
matched by IoU to the tracks of the frame before, new tracks take a mother by overlap, short
divisions are undone, with the workflow's `link` settings. The result is a CTC result folder
like the workflow's own (method `masks`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from skimage.segmentation import relabel_sequential
from tqdm import tqdm

from cosinetrack.config.sections import LinkConfig
from cosinetrack.formats import ctc, ctc_layout
from cosinetrack.stages.link import write_tracks

logger = logging.getLogger(__name__)


def compact(labels: np.ndarray) -> np.ndarray:
    """Number a frame's labels 1..N in order (0 stays background), whatever integers they were.

    Labels need not be small (a label image may hold 10**9): the linker counts pixels per label.
    """
    return relabel_sequential(labels)[0].astype(np.int64)


def given_frames(paths: Iterable[Path]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield each label image as the linker's (match labels, labels), one frame in memory."""
    for path in paths:
        labels = compact(ctc.read_label_frame(path))
        # A single-frame segmentation is matched to the previous frame through itself.
        yield labels, labels


def check_against_frames(masks: list[Path], shape: tuple[int, int], sequence_dir: Path) -> None:
    """Refuse label images that are not one per raw frame of the sequence, or not its size."""
    frames = ctc_layout.frame_paths(sequence_dir)
    if len(frames) != len(masks):
        raise ctc_layout.CtcFormatError(
            f"{masks[0].parent}: {len(masks)} label images, but {sequence_dir} has "
            f"{len(frames)} frames; give one label image per frame"
        )
    raw = ctc.frame_shape(frames[0])
    if raw != shape:
        raise ctc_layout.CtcFormatError(
            f"{masks[0]}: shape {shape} differs from the frames' {raw} ({frames[0].name})"
        )


def run_link_masks(
    mask_dir: Path, res_dir: Path, cfg: LinkConfig, sequence_dir: Path | None = None
) -> None:
    """Link a folder of label images into a checked CTC result folder.

    With `sequence_dir` (the sequence's raw frames `t000.tif ...`), the label images must be one
    per frame and of the frames' size.
    """
    masks = ctc_layout.label_images(mask_dir)
    shape = ctc.check_shapes(masks)
    if sequence_dir is not None:
        check_against_frames(masks, shape, Path(sequence_dir))
    stream = tqdm(
        given_frames(masks),
        total=len(masks),
        desc=f"link masks {Path(mask_dir).name}",
        mininterval=10,
    )
    tracks = write_tracks(stream, res_dir, (len(masks), *shape), cfg)
    ctc.check_result(res_dir, len(masks))
    divisions = int((tracks[:, 3] > 0).sum())
    logger.info("%s: %d tracks, %d with a parent", res_dir, len(tracks), divisions)
