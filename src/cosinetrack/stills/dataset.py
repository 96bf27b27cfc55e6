"""Still-image datasets: the folder layout, its checks, the measured settings and the baseline.

A dataset of `kind: images` is a folder of split folders, each holding 2-D images and, with
matching file names, their instance masks (0 background, 1.. one object each)::

    path/01/images/a.tif   path/01/masks/a.tif    # a training split
    path/02/images/c.tif   path/02/masks/c.tif    # a test split (masks optional: then unscored)

The config's `train`, `validation` and `test` lists name the split folders. Without `validation`
splits, the last `adapt.validation_fraction` of each training split's images (by name, at least
one) are held back from training to choose the checkpoint and clustering settings on.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from cosinetrack.config.sections import AdaptConfig, BaselineConfig
from cosinetrack.formats import ctc
from cosinetrack.formats.atomic import atomic_path
from cosinetrack.stages.adapt import (
    ObjectStats,
    held_back,
    mask_sizes,
    measured,
    write_settings,
)
from cosinetrack.stages.baseline import segment_frame
from cosinetrack.stills.layout import check_masks_exist, image_paths, mask_path

logger = logging.getLogger(__name__)


def read_image(path: Path) -> np.ndarray:
    """Read a 2-D image, naming the file when it is not 2-D (a stack, RGB) or unreadable."""
    image = ctc.read_frame(path)
    if not np.isfinite(image.astype(np.float32)).all():
        raise ValueError(f"{path}: image contains NaN or infinite values")
    return image


def read_mask(image: Path, shape: tuple[int, ...]) -> np.ndarray:
    """Read the instance mask of an image: integer, 2-D, of the image's shape; named if not."""
    path = mask_path(image)
    if not path.is_file():
        check_masks_exist([image])
    labels = ctc.read_label_frame(path)
    if labels.shape != tuple(shape):
        raise ValueError(f"{path}: mask of shape {labels.shape} for an image of shape {shape}")
    return labels


def validation_images(
    root: Path, train: list[str], validation: list[str], cfg: AdaptConfig
) -> dict[str, list[str]]:
    """File names, per split, of the images the choices are made on (never trained on)."""
    if validation or not cfg.tune:
        return {split: [p.name for p in image_paths(root, split)] for split in validation}
    images = {split: image_paths(root, split) for split in train}
    return {
        split: [p.name for p in held_back(paths, cfg, 1, 1, f"training split {split}")]
        for split, paths in images.items()
    }


def training_images(root: Path, train: list[str], settings: dict[str, Any]) -> list[Path]:
    """The training images: every image of the training splits but the held-back ones."""
    held = settings.get("validation", {})
    return [
        path
        for split in train
        for path in image_paths(root, split)
        if path.name not in held.get(split, [])
    ]


def measure_images(paths: list[Path]) -> ObjectStats:
    """Measure object size, density and the smallest image shape in training masks."""
    sizes = mask_sizes(read_mask(image, read_image(image).shape) for image in paths)
    if not sizes.diameters:
        raise ValueError(
            f"{paths[0].parent}: the training masks hold no object to measure; "
            f"set adapt.object_diameter (pixels) or adapt.measure: false"
        )
    shape = (min(s[0] for s in sizes.shapes), min(s[1] for s in sizes.shapes))
    return measured(sizes, "masks", sizes.counts, shape, len(paths))


def run_images_adapt(
    root: Path,
    train: list[str],
    validation: list[str],
    defaults: dict[str, dict[str, Any]],
    explicit: dict[str, dict[str, Any]],
    cfg: AdaptConfig,
    out: Path,
) -> None:
    """Hold images back, measure the other training masks, write `settings.yaml` as adapt does."""
    split = validation_images(root, train, validation, cfg)
    stats = measure_images(training_images(root, train, {"validation": split}))
    write_settings(out, stats, split, {}, defaults, explicit, cfg)


def write_labels(out_dir: Path, labels: dict[str, np.ndarray]) -> None:
    """Write labelled images (uint16, zlib) named like their images into a new folder; log it."""
    with atomic_path(out_dir) as partial:
        partial.mkdir(parents=True)
        for name, image in labels.items():
            if image.max(initial=0) > np.iinfo(np.uint16).max:
                raise ValueError(f"{name}: {image.max()} objects do not fit a uint16 label image")
            tifffile.imwrite(partial / name, image.astype(np.uint16), compression="zlib")
    counts = sum(int(len(np.unique(image)) - 1) for image in labels.values())
    logger.info("%s: %d images, %d objects", out_dir, len(labels), counts)


def run_images_baseline(root: Path, split: str, out_dir: Path, cfg: BaselineConfig) -> None:
    """Segment every image of a split with the classical baseline into labelled TIFFs."""
    labels = {path.name: segment_frame(read_image(path), cfg) for path in image_paths(root, split)}
    write_labels(out_dir, labels)
