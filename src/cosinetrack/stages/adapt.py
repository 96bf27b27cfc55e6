"""Settings that adapt to a dataset: the object size in the training GT sets the pixel sizes.

The defaults of the schema are sized for the embedded default dataset (nuclei of about 21 px at
scale 0.5). For another dataset the scale brings its objects to the same working size
(`adapt.target_diameter`), and each pixel-valued default is multiplied by the remaining ratio of
sizes (lengths by it, areas by its square), so a user's data runs with the settings the default
run uses, at the size they were made for. Elongated objects (rods, whose median length is at least
`adapt.elongation_threshold` times their width) are sized by the dimension each setting is about:
the scale brings their width, which separates touching cells, to the target, and each setting
follows their width, length or area (`ELONGATED`). Where objects cover little of the frames,
training crops are centred on objects (`train.object_crops`). A value set in the user's config is
never changed. `model/settings.yaml` records what was measured, what was chosen and where each
value came from.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from skimage.measure import regionprops

from cosinetrack.algorithms.object_size import estimate_diameter
from cosinetrack.algorithms.resample import scaled_shape
from cosinetrack.config.sections import AdaptConfig, GroundTruthChoice
from cosinetrack.config.settings import write_yaml
from cosinetrack.formats import ctc, ctc_layout

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Median equivalent diameter (original px) of the SEG masks of the default dataset's training
# sequence (SimConfig(), sequence 01), on which the baseline's pixel defaults were tuned.
DEFAULT_DIAMETER = 20.76
# Frames the diameter is estimated on when the GT has no outline (TRA markers alone).
ESTIMATE_FRAMES = 5

# Settings derived from the object size, with the power of the size ratio they scale with.
LENGTHS = {
    "train": ("neighbour_radius",),
    "link": ("parent_dilation",),
    "baseline": ("block_size", "min_distance"),
}
AREAS = {"cluster": ("min_cluster_size", "min_instance_size"), "baseline": ("min_size",)}
INVERSE_LENGTHS = {"cluster": ("coordinate_factor",)}

# The dimension of elongated objects each length (and inverse length) follows; every area follows
# the area (the equivalent diameter squared), and round objects size everything by the diameter.
ELONGATED = {
    # Instances closer than r_N must differ in their embedding, farther ones are told apart by
    # their coordinates (c per pixel): r_N and c follow the same length, so the coordinate
    # difference c * r_N beyond the radius stays the default's.
    "train.neighbour_radius": "length",
    # A cell's own pixels spread over its length: c * length, their spread in the coordinates that
    # HDBSCAN sees, stays the default's, so a long cell is not cut across into pieces.
    "cluster.coordinate_factor": "length",
    # A grown mask must not reach across a side-by-side neighbour, which is one width away.
    "link.parent_dilation": "width",
    # The local threshold compares a pixel with a neighbourhood larger than the whole cell.
    "baseline.block_size": "length",
    # Watershed seeds of side-by-side cells (ridges of the distance transform) are a width apart.
    "baseline.min_distance": "width",
}
# A crop of elongated objects holds at least this many cell lengths (a cell and a neighbour at
# each end); otherwise it holds as many objects as the default crop does (it follows the area).
CROP_LENGTHS = 3
# Below this mean fraction of the frames covered by objects, uniform crops are background almost
# everywhere and many hold no object at all, so a share `SPARSE_OBJECT_CROPS` of the crops is
# centred on an object (the rest still teach the empty background); the simulated nuclei of the
# accuracy benchmark cover 10% and more and keep uniform crops.
SPARSE_COVERAGE = 0.05
SPARSE_OBJECT_CROPS = 0.8
# What each setting that is not derived from the object size is derived from, for `sources`.
DERIVED_FROM = {"train.object_crops": "coverage"}


@dataclass(frozen=True)
class ObjectStats:
    """What the training ground truth says about the objects."""

    diameter: float  # median equivalent diameter, pixels of the original frames
    width: float  # median minor axis length, pixels of the original frames
    length: float  # median major axis length, pixels of the original frames
    elongation: float  # median of each object's length / width
    source: str  # SEG (gold), ST (silver), still images' masks, config, or estimate (the frames)
    objects: int  # masks measured
    objects_per_frame: float  # mean number of tracked objects per TRA frame
    coverage: float  # mean fraction of a frame covered by the measured masks
    frame_shape: tuple[int, int]  # (H, W) of the original frames
    frames: int  # frames of the training sequences, in all


@dataclass(frozen=True)
class MaskSizes:
    """What label images measure: every object's sizes; each image's coverage, count, shape."""

    diameters: list[float]  # equivalent diameter of every object, pixels
    widths: list[float]  # minor axis length (of the ellipse of equal moments), pixels
    lengths: list[float]  # major axis length, pixels
    coverage: list[float]  # fraction of each image covered by objects
    counts: list[int]  # objects in each image
    shapes: list[tuple[int, ...]]  # (H, W) of each image


def mask_sizes(labels: Iterable[np.ndarray]) -> MaskSizes:
    """Measure the objects of label images (frames' SEG or ST masks, or still images' masks)."""
    sizes = MaskSizes([], [], [], [], [], [])
    for image in labels:
        regions = regionprops(image)
        sizes.diameters.extend(region.equivalent_diameter_area for region in regions)
        sizes.widths.extend(region.axis_minor_length for region in regions)
        sizes.lengths.extend(region.axis_major_length for region in regions)
        sizes.coverage.append(float((image > 0).mean()))
        sizes.counts.append(len(regions))
        sizes.shapes.append(image.shape)
    return sizes


def measured(
    sizes: MaskSizes, source: str, per_frame: list[int], shape: tuple[int, int], frames: int
) -> ObjectStats:
    """The stats of measured masks: median sizes, mean objects per frame, mean coverage."""
    # A mask one pixel thin has no minor axis; it counts as one pixel wide.
    elongation = np.array(sizes.lengths) / np.maximum(np.array(sizes.widths), 1.0)
    return ObjectStats(
        diameter=round(float(np.median(sizes.diameters)), 2),
        width=round(float(np.median(sizes.widths)), 2),
        length=round(float(np.median(sizes.lengths)), 2),
        elongation=round(float(np.median(elongation)), 2),
        source=source,
        objects=len(sizes.diameters),
        objects_per_frame=round(float(np.mean(per_frame)), 2),
        coverage=round(float(np.mean(sizes.coverage)), 4),
        frame_shape=shape,
        frames=frames,
    )


def outline_masks(
    root: Path, sequence: str, frames: int, gt: ctc.GroundTruth, choice: GroundTruthChoice
) -> dict[str, list[Path]]:
    """The gold SEG and silver ST masks of a sequence that the `ground_truth` choice trains on."""
    return {
        "SEG": list(gt.seg.values()) if choice != "silver" else [],
        "ST": list(ctc_layout.silver_truth(root, sequence, frames).values())
        if choice != "gold"
        else [],
    }


@dataclass(frozen=True)
class SequenceTruth:
    """A training sequence's ground truth and the outline masks the `ground_truth` choice keeps."""

    gt: ctc.GroundTruth
    masks: dict[str, list[Path]]  # "SEG" (gold) and "ST" (silver) mask files


def read_truth(
    root: Path, sequences: list[str], choice: GroundTruthChoice
) -> dict[str, SequenceTruth]:
    """Read the ground truth of each training sequence once, for measuring and for the record."""
    truths = {}
    for sequence in sequences:
        frames = len(ctc_layout.frame_paths(Path(root) / sequence))
        gt = ctc.read_ground_truth(Path(root) / f"{sequence}_GT", frames, check_masks=False)
        truths[sequence] = SequenceTruth(
            gt, outline_masks(Path(root), sequence, frames, gt, choice)
        )
    return truths


def measure_objects(
    root: Path,
    sequences: list[str],
    cfg: AdaptConfig | None = None,
    choice: GroundTruthChoice = "gold+silver",
) -> ObjectStats:
    """Measure object size, density and frame size in the GT of a dataset's training sequences."""
    return object_stats(root, read_truth(root, sequences, choice), cfg or AdaptConfig(), choice)


def object_stats(
    root: Path, truths: dict[str, SequenceTruth], cfg: AdaptConfig, choice: GroundTruthChoice
) -> ObjectStats:
    """Object size, density and frame size from the training sequences' ground truth.

    The size comes from outlines, gold SEG else silver ST, never from TRA markers (a marker is a
    blob inside the cell); without outlines `adapt.object_diameter` gives it, else this refuses.
    """
    masks: dict[str, list[Path]] = {"SEG": [], "ST": []}
    tra, counts = [], []
    for truth in truths.values():
        for source, paths in truth.masks.items():
            masks[source] += paths
        tra += truth.gt.tra
        first, last = truth.gt.tracks[:, 1], truth.gt.tracks[:, 2]
        counts += [int(((first <= t) & (last >= t)).sum()) for t in range(len(truth.gt.tra))]
    source = "SEG" if masks["SEG"] else "ST"
    sizes = mask_sizes(ctc.read_label_frame(path) for path in masks[source])
    shape = ctc.check_shapes(tra[:1])
    if not sizes.diameters:
        per_frame = float(np.mean(counts))
        return given_size(root, list(truths), cfg, choice, shape, per_frame, len(tra))
    return measured(sizes, source, counts, shape, len(tra))


def given_size(
    root: Path,
    sequences: list[str],
    cfg: AdaptConfig,
    choice: GroundTruthChoice,
    shape: tuple[int, int],
    per_frame: float,
    frames: int,
) -> ObjectStats:
    """Object stats when the GT has no outline: `adapt.object_diameter`, else estimated.

    TRA markers are blobs inside the cells, not outlines, so without SEG or silver masks the size
    comes from the config or from the frames themselves (`estimated_diameter`). Nothing tells the
    shape then: the objects count as round ones of that diameter.
    """
    diameter, source = cfg.object_diameter or DEFAULT_DIAMETER, "config"
    if cfg.object_diameter is None and cfg.measure:
        if per_frame == 0:
            raise ValueError(
                f"{root}: the ground truth of the training sequences {sequences} holds no cell, "
                f"so nothing tells which blobs of the frames are cells: set "
                f"adapt.object_diameter to the cells' diameter in pixels"
            )
        diameter, source = estimated_diameter(root, sequences), "estimate"
        logger.warning(
            "%s: the training sequences %s have no SEG or silver-truth (_ST) mask to measure the "
            "cells from (ground_truth: %s); estimated from the frames: diameter %.4g px (set "
            "adapt.object_diameter if the cells' diameter is known)",
            root,
            sequences,
            choice,
            diameter,
        )
    coverage = min(1.0, per_frame * math.pi * diameter**2 / 4 / (shape[0] * shape[1]))
    return ObjectStats(
        diameter=diameter,
        width=diameter,
        length=diameter,
        elongation=1.0,
        source=source,
        objects=0,
        objects_per_frame=round(per_frame, 2),
        coverage=round(coverage, 4),
        frame_shape=shape,
        frames=frames,
    )


def spread_picks(count: int, frames: int = ESTIMATE_FRAMES) -> np.ndarray:
    """Indices of `frames` frames spread evenly over `count`, first and last included."""
    return np.unique(np.linspace(0, count - 1, frames).round().astype(int))


def estimated_diameter(root: Path, sequences: list[str], frames: int = ESTIMATE_FRAMES) -> float:
    """The cells' diameter estimated from `frames` frames spread over the sequences' time-lapse."""
    paths = [p for s in sequences for p in ctc_layout.frame_paths(Path(root) / s)]
    picks = spread_picks(len(paths), frames)
    estimate = estimate_diameter([ctc.read_frame(paths[i]) for i in picks])
    return round(estimate.diameter, 2)


def training_truth(truths: dict[str, SequenceTruth], choice: GroundTruthChoice) -> dict[str, Any]:
    """What trains each sequence: the `ground_truth` choice and its frames with each mask kind."""
    record: dict[str, Any] = {"choice": choice}
    for sequence, truth in truths.items():
        record[sequence] = {
            "frames": len(truth.gt.tra),
            "gold_seg_frames": len(truth.masks["SEG"]),
            "silver_st_frames": len(truth.masks["ST"]),
        }
    return record


def scale_from(stats: ObjectStats, cfg: AdaptConfig) -> str:
    """The dimension that sets the scale: the width of elongated objects, else the diameter.

    Side-by-side rods are told apart across their width, which their equivalent diameter
    overstates (a rod 16 px wide and 80 long measures 40). A diameter from the config
    (`adapt.object_diameter`) sizes the objects as round ones.
    """
    if stats.source != "config" and stats.elongation >= cfg.elongation_threshold:
        return "width"
    return "equivalent diameter"


def dimensions(stats: ObjectStats, cfg: AdaptConfig) -> dict[str, float]:
    """The width, length and diameter that settings follow; all the diameter for round objects."""
    if scale_from(stats, cfg) == "width":
        return {"width": stats.width, "length": stats.length, "diameter": stats.diameter}
    return dict.fromkeys(("width", "length", "diameter"), stats.diameter)


def choose_scale(diameter: float, cfg: AdaptConfig) -> float:
    """The working scale (two significant digits) that brings objects to the target diameter."""
    scale = float(f"{cfg.target_diameter / diameter:.2g}")
    return min(max(scale, 0.1), cfg.max_scale)


def scaled(default: Any, factor: float) -> Any:
    """A default multiplied by a size factor, kept an integer (odd stays odd) where it was one."""
    if isinstance(default, bool) or not isinstance(default, int | float):
        return default
    if isinstance(default, float):
        return float(f"{default * factor:.3g}")
    value = max(1, round(default * factor))
    return value + 1 if default % 2 and not value % 2 else value


def derived(
    defaults: dict[str, dict[str, Any]], stats: ObjectStats, scale: float, cfg: AdaptConfig
) -> dict[str, dict[str, Any]]:
    """Every pixel-valued setting from the defaults and the measured size, before config wins.

    Each follows the dimension of `ELONGATED` (lengths), or the area (areas); for round objects
    all of them the diameter.
    """
    sizes = dimensions(stats, cfg)
    # A cell known by its marker alone reaches up to half its length from it.
    chosen: dict[str, dict[str, Any]] = {
        "preprocess": {"scale": scale, "marker_margin": round(sizes["length"] / 2, 1)}
    }
    for table, power in ((LENGTHS, 1), (AREAS, 2), (INVERSE_LENGTHS, -1)):
        for section, keys in table.items():
            for key in keys:
                size = sizes[ELONGATED.get(f"{section}.{key}", "diameter")]
                # working size against the target; the baseline's original size against its data
                ratio = (
                    size / DEFAULT_DIAMETER
                    if section == "baseline"
                    else size * scale / cfg.target_diameter
                )
                chosen.setdefault(section, {})[key] = scaled(defaults[section][key], ratio**power)
    area_ratio = sizes["diameter"] * scale / cfg.target_diameter
    least = 32 if scale_from(stats, cfg) != "width" else held_lengths(stats.length * scale)
    chosen["train"]["crop"] = training_crop(
        defaults["train"]["crop"], area_ratio, stats, scale, least
    )
    chosen["train"]["max_instances"] = max_instances(
        defaults["train"]["max_instances"], chosen["train"]["crop"], stats, scale
    )
    chosen["train"]["object_crops"] = object_crops(stats.coverage)
    return chosen


def held_lengths(length: float) -> int:
    """The smallest crop (a multiple of 16, >= 32) that holds `CROP_LENGTHS` working lengths."""
    return max(32, 16 * math.ceil(CROP_LENGTHS * length / 16))


def training_crop(
    default: int, ratio: float, stats: ObjectStats, scale: float, least: int = 32
) -> int:
    """The crop side scaled with the objects, a multiple of 16 that fits the working frames."""
    working = min(scaled_shape(stats.frame_shape, scale))
    crop = max(least, 16 * round(default * ratio / 16))
    return min(crop, max(16, 16 * (working // 16)))


def max_instances(default: int, crop: int, stats: ObjectStats, scale: float) -> int:
    """Room in the loss for twice the objects a crop holds at the measured density (<= 128)."""
    object_area = math.pi * (stats.diameter * scale) ** 2 / 4
    expected = stats.coverage * crop * crop / object_area
    return int(min(128, max(default, math.ceil(2 * expected))))


def object_crops(coverage: float) -> float:
    """The share of training crops centred on an object: most where objects are sparse, else 0."""
    return SPARSE_OBJECT_CROPS if coverage < SPARSE_COVERAGE else 0.0


def held_back(
    items: Sequence[T], cfg: AdaptConfig, least: int, keep: int, what: str
) -> Sequence[T]:
    """The last items (a sequence's frames, a split's images) held back for validation.

    `adapt.validation_fraction` of them and at least `least` (a frame pair, or one image), none
    without tuning; refused when fewer than `keep` would be left to train on.
    """
    if not cfg.tune:
        return items[len(items) :]
    held = max(least, round(cfg.validation_fraction * len(items)))
    if len(items) - held < keep:
        raise ValueError(
            f"{what}: holding back {held} of {len(items)} for validation leaves "
            f"{max(0, len(items) - held)}, fewer than the {keep} training needs; list a "
            f"`validation` sequence or split for the dataset, or set adapt.tune: false"
        )
    return items[len(items) - held :]


def validation_split(
    root: Path, train: list[str], validation: list[str], cfg: AdaptConfig, clip_frames: int
) -> dict[str, Any]:
    """The frames that choose checkpoint and post-processing: sequences, or held-back ends."""
    if validation or not cfg.tune:
        return {"sequences": list(validation), "held_back": {}}
    held = {}
    for sequence in train:
        frames = len(ctc_layout.frame_paths(Path(root) / sequence))
        what = f"training sequence {sequence} (train.clip_frames: {clip_frames})"
        validating = held_back(range(frames), cfg, 2, clip_frames, what)
        held[sequence] = [frames - len(validating), frames]
    return {"sequences": [], "held_back": held}


def resolve(
    chosen: dict[str, dict[str, Any]],
    explicit: dict[str, dict[str, Any]],
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Chosen values where the config is silent, the config's where it speaks; and each source."""
    values: dict[str, dict[str, Any]] = {}
    sources: dict[str, str] = {}
    for section, keys in chosen.items():
        for key, value in keys.items():
            given = key in explicit.get(section, {})
            values.setdefault(section, {})[key] = explicit[section][key] if given else value
            name = f"{section}.{key}"
            sources[name] = "config" if given else DERIVED_FROM.get(name, "object size")
            if given and explicit[section][key] != value:
                logger.info(
                    "%s.%s = %s from the config (the object size gives %s)",
                    section,
                    key,
                    explicit[section][key],
                    value,
                )
    return values, sources


def run_adapt(
    root: Path,
    train: list[str],
    validation: list[str],
    defaults: dict[str, dict[str, Any]],
    explicit: dict[str, dict[str, Any]],
    cfg: AdaptConfig,
    out: Path,
    ground_truth: GroundTruthChoice = "gold+silver",
) -> None:
    """Measure a time-lapse dataset's training GT, choose its settings and write `settings.yaml`.

    The last frames of the training sequences are held back for validation unless validation
    sequences are named.
    """
    truths = read_truth(root, train, ground_truth)
    stats = object_stats(root, truths, cfg, ground_truth)
    split = validation_split(root, train, validation, cfg, defaults["train"]["clip_frames"])
    truth = {"ground_truth": training_truth(truths, ground_truth)}
    write_settings(out, stats, split, truth, defaults, explicit, cfg)


def write_settings(
    out: Path,
    stats: ObjectStats,
    split: dict[str, Any],
    truth: dict[str, Any],
    defaults: dict[str, dict[str, Any]],
    explicit: dict[str, dict[str, Any]],
    cfg: AdaptConfig,
) -> None:
    """Choose the settings from what was measured and write the record every stage reads.

    Time-lapses and still images (which hold back whole images) share it, so every stage reads
    `settings.yaml` alike.
    """
    if cfg.object_diameter is not None:
        stats = replace(stats, diameter=cfg.object_diameter, source="config")
    scale = choose_scale(dimensions(stats, cfg)["width"], cfg)
    chosen = derived(defaults, stats, scale, cfg) if cfg.measure else {}
    values, sources = resolve(chosen, explicit)
    measured = {
        **asdict(stats),
        "frame_shape": list(stats.frame_shape),
        "scale_from": scale_from(stats, cfg),
    }
    record = {"measured": measured, **truth, **values, "sources": sources, "validation": split}
    logger.info("measured %s", measured)
    logger.info("chosen %s", values)
    logger.info("validation on %s", split)
    write_yaml(out, record)
