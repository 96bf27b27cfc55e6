"""Preprocessing: a CTC sequence becomes a Zarr store of normalised frames and merged ground truth.

The store (`prep/{seq}.zarr`) holds `image` (T, H, W) float32 normalised to about [-1, 1], and where
ground truth exists `labels` (T, H, W) uint16 (TRA track ids, with SEG masks pasted over the markers
and re-identified to the overlapping track) and `full_seg` (T,) bool, the frames whose
segmentation is complete. The normalisation (Gaussian prefilter, per-frame robust quantiles, no
clipping) follows the reference; its parameters and the per-frame quantiles are recorded so
inference matches training.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr
from scipy import ndimage
from tqdm import tqdm

from cosinetrack import ctc
from cosinetrack.config import PreprocessConfig
from cosinetrack.provenance import provenance
from cosinetrack.resample import resize_image, resize_labels, scaled_shape
from cosinetrack.store import atomic_path, frame_array

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
    """One frame's merged ground truth."""

    labels: np.ndarray  # (H, W) uint16 track ids
    full_seg: bool  # every track alive in the frame has a SEG mask
    unmatched: int  # SEG objects without a TRA marker, given fresh ids


def merge_ground_truth(
    tra: np.ndarray, seg: np.ndarray | None, next_id: int
) -> tuple[MergedFrame, int]:
    """Paste SEG masks over TRA markers, each SEG object taking the track id it overlaps most.

    SEG objects that overlap no marker get fresh ids from `next_id` on (they are cells even
    without a track); returns the merged frame and the next free id.
    """
    merged = tra.astype(np.uint16, copy=True)
    if seg is None:
        return MergedFrame(merged, False, 0), next_id
    seg_ids = np.unique(seg)
    seg_ids = seg_ids[seg_ids > 0]
    matched: set[int] = set()
    unmatched = 0
    objects = ndimage.find_objects(seg)
    for seg_id in seg_ids:
        box = objects[seg_id - 1]
        inside = seg[box] == seg_id
        markers = tra[box][inside]
        markers = markers[markers > 0]
        if markers.size:
            track = int(np.bincount(markers).argmax())
            matched.add(track)
        else:
            track, next_id, unmatched = next_id, next_id + 1, unmatched + 1
        merged[box][inside] = track
    alive = set(np.unique(tra).tolist()) - {0}
    return MergedFrame(merged, alive <= matched, unmatched), next_id


def run_preprocess(root: Path, sequence: str, out: Path, cfg: PreprocessConfig) -> None:
    """Normalise a sequence of a CTC folder (and merge its GT, if any) into a Zarr store."""
    sequence_dir = Path(root) / sequence
    gt_dir = Path(root) / f"{sequence}_GT"
    if not (gt_dir / "TRA").is_dir():
        gt_dir = None
    frames = ctc.frame_paths(sequence_dir)
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
            write_ground_truth(group, gt, shape, original)
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


def write_ground_truth(
    group: zarr.Group, gt: ctc.GroundTruth, shape: tuple[int, int, int], original: tuple[int, int]
) -> None:
    """Merge and store the GT frame by frame (at the network size), checking each TRA mask."""
    labels = frame_array(group, "labels", shape, "uint16")
    full_seg = np.zeros(shape[0], dtype=bool)
    spans = ctc.track_spans(gt.tracks)
    next_id = int(gt.tracks[:, 0].max(initial=0)) + 1
    unmatched = 0
    for t, tra_path in enumerate(gt.tra):
        tra = ctc.read_label_frame(tra_path)
        if tra.shape != original:
            raise ctc.CtcFormatError(
                f"{tra_path}: shape {tra.shape} differs from frames {original}"
            )
        ctc.check_frame_labels(tra_path, tra, t, spans)
        seg = ctc.read_label_frame(gt.seg[t]) if t in gt.seg else None
        if seg is not None and seg.shape != tra.shape:
            raise ctc.CtcFormatError(f"{gt.seg[t]}: shape {seg.shape} differs from {tra.shape}")
        merged, next_id = merge_ground_truth(tra, seg, next_id)
        labels[t] = resize_labels(merged.labels, shape[1:])
        full_seg[t] = merged.full_seg
        unmatched += merged.unmatched
    group.create_array("full_seg", data=full_seg)
    group.create_array("tracks", data=gt.tracks)
    if unmatched:
        logger.warning("%d SEG objects overlap no TRA marker; they were given fresh ids", unmatched)
    logger.info("ground truth: %d of %d frames have complete SEG", full_seg.sum(), shape[0])
