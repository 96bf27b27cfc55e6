"""Preprocessing: a CTC sequence becomes a Zarr store of normalised frames and merged ground truth.

The store (`prep/{seq}.zarr`) holds `image` (T, H, W) float32 normalised to about [-1, 1], and where
ground truth exists `labels` (T, H, W) uint16 (TRA track ids, with the SEG and silver-truth masks
painted over the markers and re-identified to the track whose marker they hold) and `background`
(T, H, W) bool, the pixels certain to be background: outside every mask and, around a cell known
only by its marker, farther than `marker_margin` from it. The normalisation (Gaussian prefilter,
per-frame robust quantiles, no clipping) follows the reference; its parameters and the per-frame
quantiles are recorded so inference matches training.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr
from scipy import ndimage
from tqdm import tqdm

from cosinetrack.algorithms.resample import resize_image, resize_labels, scaled_shape
from cosinetrack.config.sections import GroundTruthChoice, PreprocessConfig
from cosinetrack.dag.provenance import provenance
from cosinetrack.formats import ctc, ctc_layout
from cosinetrack.formats.atomic import atomic_path
from cosinetrack.formats.store import frame_array

logger = logging.getLogger(__name__)


def normalise(
    image: np.ndarray, cfg: PreprocessConfig, name: str
) -> tuple[np.ndarray, float, float]:
    """Blur and map the frame's low/high quantiles to -1/+1; return the image and the quantiles."""
    image = image.astype(np.float32)
    if not np.isfinite(image).all():
        raise ValueError(f"{name}: frame contains NaN or infinite values")
    if cfg.sigma > 0:
        image = ndimage.gaussian_filter(image, cfg.sigma)
    low, high = np.quantile(image, [cfg.low_quantile, cfg.high_quantile])
    if high <= low:
        logger.warning(
            "%s: flat frame (quantiles %.3g, %.3g); it normalises to -1", name, low, high
        )
        high = low + 1.0
    scaled = (image - low) * np.float32(2.0 / (high - low)) - np.float32(1.0)
    return scaled.astype(np.float32), float(low), float(high)


@dataclass(frozen=True)
class MergedFrame:
    """One frame's merged ground truth and what of it is known."""

    labels: np.ndarray  # (H, W) uint16 track ids (fresh ids for masks without a marker)
    background: np.ndarray  # (H, W) bool, pixels certain to be background
    masked: int  # cells of the frame with an outline (a SEG or ST mask)
    markers: int  # tracked cells with only their TRA marker: outline unknown
    unmatched: int  # masks over no TRA marker, given fresh ids
    skipped: int  # masks left out: over the markers of several cells, or a second of one cell


def mask_owner(markers: np.ndarray, marker_sizes: np.ndarray) -> int | None:
    """The track a mask belongs to from the TRA markers under it: None if none, -1 if several.

    A mask holds a track when it covers more than half of that track's marker; one that holds
    two is a merge (silver truth is computer-made) and teaches nothing; one that holds none but
    touches markers takes the one it overlaps most, as a mask drawn a little off its marker.
    """
    markers = markers[markers > 0]
    if not markers.size:
        return None
    counts = np.bincount(markers)
    held = np.flatnonzero(counts * 2 > marker_sizes[: len(counts)])
    if len(held) > 1:
        return -1
    return int(held[0]) if len(held) else int(counts.argmax())


def merge_ground_truth(
    tra: np.ndarray, layers: list[np.ndarray], next_id: int, marker_margin: float
) -> tuple[MergedFrame, int]:
    """Paint the masks of `layers` (gold SEG first, then silver) over the TRA markers.

    Each mask takes the track id of the marker it holds (fresh ids from `next_id` for masks over
    no marker: cells without a track); a later layer fills in only cells an earlier one left out.
    The background is certain outside every mask and farther than `marker_margin` pixels from
    every marker without a mask, whose cell's outline is unknown. Returns the frame and the next
    free id.
    """
    merged = tra.astype(np.uint16, copy=True)
    painted = np.zeros(tra.shape, dtype=bool)
    unknown = np.zeros(tra.shape, dtype=bool)
    marker_sizes = np.bincount(tra.ravel())
    matched: set[int] = set()
    unmatched = skipped = 0
    for layer in layers:
        for mask_id, box in enumerate(ndimage.find_objects(layer), start=1):
            if box is None:
                continue
            inside = layer[box] == mask_id
            track = mask_owner(tra[box][inside], marker_sizes)
            if track == -1 or track in matched or painted[box][inside].mean() > 0.5:
                unknown[box] |= inside & ~painted[box]  # a cell is there: never background
                skipped += layer is layers[0] or track == -1  # not silver under gold
                continue
            if track is None:
                track, next_id, unmatched = next_id, next_id + 1, unmatched + 1
            paint = inside & ~painted[box]
            merged[box][paint] = track
            painted[box] |= paint
            matched.add(track)
    if next_id - 1 > ctc.UINT16_MAX:
        raise ctc_layout.CtcFormatError(
            f"{next_id - 1} cells: masks without a TRA marker push the labels above "
            f"{ctc.UINT16_MAX}; give each SEG/ST mask's cell a marker in TRA"
        )
    markers_only = sorted(set(np.flatnonzero(marker_sizes[1:]) + 1) - matched)
    background = (merged == 0) & ~unknown
    if markers_only:
        near = np.isin(tra, markers_only)
        background &= ndimage.distance_transform_edt(~near) > marker_margin
    frame = MergedFrame(merged, background, len(matched), len(markers_only), unmatched, skipped)
    return frame, next_id


def run_preprocess(
    root: Path,
    sequence: str,
    out: Path,
    cfg: PreprocessConfig,
    ground_truth: GroundTruthChoice = "gold+silver",
) -> None:
    """Normalise a sequence of a CTC folder (and merge its GT, if any) into a Zarr store."""
    sequence_dir = Path(root) / sequence
    gt_dir = Path(root) / f"{sequence}_GT"
    if not (gt_dir / "TRA").is_dir():
        gt_dir = None
    frames = ctc_layout.frame_paths(sequence_dir)
    original = ctc.check_shapes(frames)
    height, width = scaled_shape(original, cfg.scale)
    gt = ctc.read_ground_truth(gt_dir, len(frames), check_masks=False) if gt_dir else None
    shape = (len(frames), height, width)
    with atomic_path(out) as partial:
        group = zarr.open_group(partial, mode="w")
        image = frame_array(group, "image", shape, "float32")
        quantiles = np.zeros((len(frames), 2), dtype=np.float64)
        for t, path in enumerate(tqdm(frames, desc=f"preprocess {sequence}", mininterval=10)):
            normalised, quantiles[t, 0], quantiles[t, 1] = normalise(
                ctc.read_frame(path), cfg, str(path)
            )
            image[t] = resize_image(normalised, (height, width))
        group.create_array("quantiles", data=quantiles)
        if gt is not None:
            masks = training_masks(gt, Path(root), sequence, ground_truth)
            write_ground_truth(group, gt, masks, shape, original, cfg.marker_margin)
        group.attrs.update(
            {
                "sequence": sequence,
                "source": str(Path(sequence_dir).resolve()),
                "frames": len(frames),
                "height": height,
                "width": width,
                "original_shape": list(original),
                "has_ground_truth": gt is not None,
                "preprocess": cfg.model_dump(),
                "provenance": provenance(),
            }
        )
    logger.info(
        "preprocessed %s: %d frames of %dx%d (network size %dx%d)",
        sequence_dir,
        len(frames),
        *original,
        height,
        width,
    )


def training_masks(
    gt: ctc.GroundTruth, root: Path, sequence: str, choice: GroundTruthChoice
) -> list[dict[int, Path]]:
    """The mask layers the dataset's `ground_truth` chooses, by frame, in order of precedence."""
    frames = len(gt.tra)
    gold = gt.seg if choice in ("gold", "gold+silver") else {}
    silver = ctc_layout.silver_truth(root, sequence, frames) if choice != "gold" else {}
    return [gold, silver]


def write_ground_truth(
    group: zarr.Group,
    gt: ctc.GroundTruth,
    masks: list[dict[int, Path]],
    shape: tuple[int, int, int],
    original: tuple[int, int],
    marker_margin: float,
) -> None:
    """Merge and store the GT frame by frame (at the network size), checking each TRA mask.

    `labels` holds the track ids, `background` the pixels certain to be background and
    `background_pixels` their count per frame, which tells training early whether any frame
    teaches the background.
    """
    labels = frame_array(group, "labels", shape, "uint16")
    background = frame_array(group, "background", shape, "bool")
    counts = np.zeros(shape[0], dtype=np.int64)
    totals = dict.fromkeys(("masked", "markers", "unmatched", "skipped"), 0)
    spans = ctc.track_spans(gt.tracks)
    next_id = int(gt.tracks[:, 0].max(initial=0)) + 1
    for t, tra_path in enumerate(gt.tra):
        tra = ctc.read_gt_label_frame(tra_path)
        if tra.shape != original:
            raise ctc_layout.CtcFormatError(
                f"{tra_path}: shape {tra.shape} differs from frames {original}"
            )
        ctc.check_frame_labels(tra_path, tra, t, spans)
        layers = [mask_layer(by_frame[t], original) for by_frame in masks if t in by_frame]
        merged, next_id = merge_ground_truth(tra, layers, next_id, marker_margin)
        labels[t] = resized = resize_labels(merged.labels, shape[1:])
        background[t] = known = (resized == 0) & ~working_uncertain(merged, shape[1:])
        counts[t] = known.sum()
        for key in totals:
            totals[key] += getattr(merged, key)
    group.create_array("background_pixels", data=counts)
    group.create_array("tracks", data=gt.tracks)
    group.attrs["ground_truth"] = {"frames_with_masks": [len(m) for m in masks], **totals}
    if totals["unmatched"]:
        logger.warning("%d masks overlap no TRA marker; they got fresh ids", totals["unmatched"])
    logger.info(
        "ground truth: %d cell outlines (SEG/ST masks), %d cells known by their marker only, "
        "%d masks left out; %.1f%% of the pixels are certain background",
        totals["masked"],
        totals["markers"],
        totals["skipped"],
        100 * counts.sum() / np.prod(shape),
    )


def working_uncertain(merged: MergedFrame, shape: tuple[int, int]) -> np.ndarray:
    """Unlabelled pixels not certain to be background, at the working size (a majority each).

    A frame where every cell has its mask has none, so its background at the working size is
    exactly its unlabelled pixels there.
    """
    uncertain = (merged.labels == 0) & ~merged.background
    if not uncertain.any():
        return np.zeros(shape, dtype=bool)
    return resize_labels(uncertain.astype(np.uint8), shape) > 0


def mask_layer(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """Read one SEG or ST mask, checking it matches the frames."""
    layer = ctc.read_gt_label_frame(path)
    if layer.shape != shape:
        raise ctc_layout.CtcFormatError(f"{path}: shape {layer.shape} differs from frames {shape}")
    return layer
