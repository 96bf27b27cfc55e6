"""Settings that adapt to a dataset: the object size in the training GT sets the pixel sizes.

The defaults of the schema are sized for the embedded default dataset (nuclei of about 21 px at
scale 0.5). For another dataset the scale brings its objects to the same working size
(`adapt.target_diameter`), and each pixel-valued default is multiplied by the remaining ratio of
sizes (lengths by it, areas by its square), so a user's data runs with the settings the default
run uses, at the size they were made for. A value set in the user's config is never changed.
`model/settings.yaml` records what was measured, what was chosen and where each value came from.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from skimage.measure import regionprops

from cosinetrack.algorithms.resample import scaled_shape
from cosinetrack.config.sections import AdaptConfig, GroundTruthChoice
from cosinetrack.config.settings import write_yaml
from cosinetrack.formats import ctc, ctc_layout

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Median equivalent diameter (original px) of the SEG masks of the default dataset's training
# sequence (SimConfig(), sequence 01), on which the baseline's pixel defaults were tuned.
DEFAULT_DIAMETER = 20.76

# Settings derived from the object size, with the power of the size ratio they scale with.
LENGTHS = {
    "train": ("neighbour_radius",),
    "link": ("parent_dilation",),
    "baseline": ("block_size", "min_distance"),
}
AREAS = {"cluster": ("min_cluster_size", "min_instance_size"), "baseline": ("min_size",)}
INVERSE_LENGTHS = {"cluster": ("coordinate_factor",)}


@dataclass(frozen=True)
class ObjectStats:
    """What the training ground truth says about the objects."""

    diameter: float  # median equivalent diameter, pixels of the original frames
    source: str  # masks measured: SEG (gold), ST (silver), still images' masks, or config
    objects: int  # masks measured
    objects_per_frame: float  # mean number of tracked objects per TRA frame
    coverage: float  # mean fraction of a frame covered by the measured masks
    frame_shape: tuple[int, int]  # (H, W) of the original frames
    frames: int  # frames of the training sequences, in all


@dataclass(frozen=True)
class MaskSizes:
    """What label images measure: every object's diameter; each image's coverage, count, shape."""

    diameters: list[float]  # equivalent diameter of every object, pixels
    coverage: list[float]  # fraction of each image covered by objects
    counts: list[int]  # objects in each image
    shapes: list[tuple[int, ...]]  # (H, W) of each image


def mask_sizes(labels: Iterable[np.ndarray]) -> MaskSizes:
    """Measure the objects of label images (frames' SEG or ST masks, or still images' masks)."""
    sizes = MaskSizes([], [], [], [])
    for image in labels:
        regions = regionprops(image)
        sizes.diameters.extend(region.equivalent_diameter_area for region in regions)
        sizes.coverage.append(float((image > 0).mean()))
        sizes.counts.append(len(regions))
        sizes.shapes.append(image.shape)
    return sizes


def measured(
    sizes: MaskSizes, source: str, per_frame: list[int], shape: tuple[int, int], frames: int
) -> ObjectStats:
    """The stats of measured masks: median diameter, mean objects per frame, mean coverage."""
    return ObjectStats(
        diameter=round(float(np.median(sizes.diameters)), 2),
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
    """Object stats from `adapt.object_diameter` when the GT has no outline; refused without it."""
    if cfg.object_diameter is None and cfg.measure:
        raise ValueError(
            f"{root}: the training sequences {sequences} have no SEG or silver-truth (_ST) mask "
            f"to measure the cells' size from (ground_truth: {choice}), and TRA markers are not "
            f"outlines: set adapt.object_diameter to the cells' diameter in pixels"
        )
    diameter = cfg.object_diameter or DEFAULT_DIAMETER
    coverage = min(1.0, per_frame * math.pi * diameter**2 / 4 / (shape[0] * shape[1]))
    return ObjectStats(
        diameter, "config", 0, round(per_frame, 2), round(coverage, 4), shape, frames
    )


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
    """Every pixel-valued setting from the defaults and the measured size, before config wins."""
    ratio = stats.diameter * scale / cfg.target_diameter  # working size against the target
    original = stats.diameter / DEFAULT_DIAMETER  # original size against the baseline's data
    chosen: dict[str, dict[str, Any]] = {
        "preprocess": {"scale": scale, "marker_margin": round(stats.diameter / 2, 1)}
    }
    for table, power in ((LENGTHS, 1), (AREAS, 2), (INVERSE_LENGTHS, -1)):
        for section, keys in table.items():
            factor = (original if section == "baseline" else ratio) ** power
            for key in keys:
                chosen.setdefault(section, {})[key] = scaled(defaults[section][key], factor)
    chosen["train"]["crop"] = training_crop(defaults["train"]["crop"], ratio, stats, scale)
    chosen["train"]["max_instances"] = max_instances(
        defaults["train"]["max_instances"], chosen["train"]["crop"], stats, scale
    )
    return chosen


def training_crop(default: int, ratio: float, stats: ObjectStats, scale: float) -> int:
    """The crop side scaled with the objects, a multiple of 16 that fits the working frames."""
    working = min(scaled_shape(stats.frame_shape, scale))
    crop = max(32, 16 * round(default * ratio / 16))
    return min(crop, max(16, 16 * (working // 16)))


def max_instances(default: int, crop: int, stats: ObjectStats, scale: float) -> int:
    """Room in the loss for twice the objects a crop holds at the measured density (<= 128)."""
    object_area = math.pi * (stats.diameter * scale) ** 2 / 4
    expected = stats.coverage * crop * crop / object_area
    return int(min(128, max(default, math.ceil(2 * expected))))


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
            sources[f"{section}.{key}"] = "config" if given else "object size"
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
        stats = ObjectStats(
            **{**asdict(stats), "diameter": cfg.object_diameter, "source": "config"}
        )
    scale = choose_scale(stats.diameter, cfg)
    chosen = derived(defaults, stats, scale, cfg) if cfg.measure else {}
    values, sources = resolve(chosen, explicit)
    measured = {**asdict(stats), "frame_shape": list(stats.frame_shape)}
    record = {"measured": measured, **truth, **values, "sources": sources, "validation": split}
    logger.info("measured %s", measured)
    logger.info("chosen %s", values)
    logger.info("validation on %s", split)
    write_yaml(out, record)
