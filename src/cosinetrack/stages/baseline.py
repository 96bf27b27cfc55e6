"""Classical baseline: threshold, distance-transform watershed, and the method's own IoU linking.

The pipeline a user would try first, built from scikit-image and SciPy: Gaussian smoothing, a global
(Otsu, Li, triangle) or local threshold, small objects removed and holes filled, then the distance
to the background is flooded from its maxima, one seed per nucleus ideally, so that touching nuclei
split along their necks. Frames are segmented independently and linked by `link.write_tracks`, the
linker the embedding method uses, so the two methods in metrics.csv differ only in how they segment.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage import feature, filters, morphology, segmentation
from tqdm import tqdm

from cosinetrack.config.sections import BaselineConfig, LinkConfig
from cosinetrack.formats import ctc, ctc_layout
from cosinetrack.stages.link import write_tracks

logger = logging.getLogger(__name__)

GLOBAL_THRESHOLDS = {
    "otsu": filters.threshold_otsu,
    "li": filters.threshold_li,
    "triangle": filters.threshold_triangle,
}
# Percentiles whose difference scales the local threshold's offset, robust to hot pixels.
RANGE_PERCENTILES = (1.0, 99.0)


def smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    """Return the frame as float32, Gaussian-smoothed so shot noise does not fragment the mask."""
    image = np.asarray(image, dtype=np.float32)
    if sigma == 0:
        return image
    return filters.gaussian(image, sigma=sigma, preserve_range=True).astype(np.float32)


def threshold(image: np.ndarray, cfg: BaselineConfig) -> float | np.ndarray:
    """Return the intensity separating nuclei from background: one value, or one per pixel."""
    if cfg.threshold != "local":
        return float(GLOBAL_THRESHOLDS[cfg.threshold](image))
    # The offset is relative to the frame's intensity range, so one value fits any camera gain.
    low, high = np.percentile(image, RANGE_PERCENTILES)
    return filters.threshold_local(image, cfg.block_size, offset=-cfg.offset * (high - low))


def remove_small(mask: np.ndarray, min_size: int) -> np.ndarray:
    """Remove mask components of fewer than `min_size` pixels: noise specks, not nuclei."""
    if min_size <= 1:
        return mask
    return morphology.remove_small_objects(mask, max_size=min_size - 1)


def threshold_foreground(image: np.ndarray, cfg: BaselineConfig) -> np.ndarray:
    """Return the nuclei mask: thresholded, specks removed and holes filled (dark nucleoli)."""
    mask = image > threshold(image, cfg)
    return ndimage.binary_fill_holes(remove_small(mask, cfg.min_size))


def markers(distance: np.ndarray, mask: np.ndarray, cfg: BaselineConfig) -> np.ndarray:
    """Return labelled watershed seeds, the maxima of the distance transform: one per nucleus."""
    if cfg.seeds == "h_maxima":
        return ndimage.label(morphology.h_maxima(distance, cfg.h))[0]
    # Peaks are searched per component, so every component gets at least one seed.
    components = ndimage.label(mask)[0]
    peaks = feature.peak_local_max(
        distance, min_distance=cfg.min_distance, labels=components, exclude_border=False
    )
    seeds = np.zeros(mask.shape, dtype=np.int32)
    seeds[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return seeds


def segment_frame(image: np.ndarray, cfg: BaselineConfig) -> np.ndarray:
    """Segment one 2-D frame into int32 instance labels (0 is background) by watershed."""
    mask = threshold_foreground(smooth(image, cfg.sigma), cfg)
    distance = ndimage.distance_transform_edt(mask)
    return segmentation.watershed(-distance, markers(distance, mask, cfg), mask=mask)


def segment_frames(
    paths: Iterable[Path], cfg: BaselineConfig
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield each frame's labels as the linker's (match labels, labels), one frame in memory."""
    for path in paths:
        labels = segment_frame(ctc.read_frame(path), cfg)
        # A single-frame segmentation is matched to the previous frame through itself.
        yield labels, labels


def baseline_link(cfg: BaselineConfig, link: LinkConfig) -> LinkConfig:
    """Return the workflow's linking settings with the baseline's own IoU threshold."""
    return LinkConfig.model_validate({**link.model_dump(), "iou_threshold": cfg.iou_threshold})


def run_baseline(sequence_dir: Path, res_dir: Path, cfg: BaselineConfig, link: LinkConfig) -> None:
    """Segment and track one CTC sequence folder into a checked CTC result folder.

    Linking is the method's own (`link.write_tracks`) with the workflow's `link` settings (division
    search, short-track removal), except the IoU threshold, which is the baseline's own: it was
    tuned together with the segmentation it links, on the training sequence.
    """
    sequence_dir = Path(sequence_dir)
    paths = ctc_layout.frame_paths(sequence_dir)
    shape = (len(paths), *ctc.check_shapes(paths))
    stream = tqdm(
        segment_frames(paths, cfg),
        total=len(paths),
        desc=f"baseline {sequence_dir.name}",
        mininterval=10,
    )
    tracks = write_tracks(stream, res_dir, shape, baseline_link(cfg, link))
    ctc.check_result(res_dir, len(paths))
    divisions = int((tracks[:, 3] > 0).sum())
    logger.info("%s: %d tracks, %d with a parent", res_dir, len(tracks), divisions)
