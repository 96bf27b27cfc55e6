"""The Python API: segment and track a time-lapse held in memory with a trained model folder.

`track(frames, model=...)` runs the workflow's preprocess, infer, cluster and link stages on a
(T, H, W) array without Snakemake and without intermediate files, with the settings the rules
give a dataset that names the model folder (`model:` in a config): `settings.yaml` (the working
scale and the pixel sizes adapt chose), then `postprocess.yaml` (select's clustering and linking
choices), then the caller's `overrides`, as a config's own keys win in the workflow. The stage
functions are the rules' own, fed arrays instead of stores; the arrays hold what the stores would
(float32 frames, float16 embeddings and cosines, uint16 pair labels), so the masks and the track
table are those the workflow writes to `{seq}_RES/` (tests/test_api.py compares them).

Memory: the normalised frames at the working size (float32) and, while linking, the tracked
frames (uint32) and each frame's cosine to the background (float16), all at the working size,
and the label stack returned; the embeddings of one frame pair at a time (each pair is clustered
as soon as it is embedded), never the whole sequence's.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from cosinetrack.algorithms.object_size import estimate_diameter
from cosinetrack.algorithms.resample import resize_image, scaled_shape
from cosinetrack.config.file import GENERAL_MODEL
from cosinetrack.config.sections import (
    ClusterConfig,
    InferConfig,
    LinkConfig,
    PreprocessConfig,
    StageConfig,
)
from cosinetrack.config.settings import read_settings
from cosinetrack.dag.paths import GENERAL_MODEL_FOLDER, POSTPROCESS_FILE, SETTINGS_FILE
from cosinetrack.formats import ctc
from cosinetrack.stages.adapt import spread_picks
from cosinetrack.stages.cluster import label_pair
from cosinetrack.stages.export import tracked_objects, write_geff
from cosinetrack.stages.infer import Embedder
from cosinetrack.stages.link import Outlines, linked, pair_stream
from cosinetrack.stages.preprocess import normalise
from cosinetrack.stages.rescale import rescaled

logger = logging.getLogger(__name__)

# The sections `overrides` may set, each with the model folder's files its rule reads.
SECTIONS: dict[str, tuple[type[StageConfig], tuple[str, ...]]] = {
    "preprocess": (PreprocessConfig, (SETTINGS_FILE,)),
    "infer": (InferConfig, ()),
    "cluster": (ClusterConfig, (SETTINGS_FILE, POSTPROCESS_FILE)),
    "link": (LinkConfig, (SETTINGS_FILE, POSTPROCESS_FILE)),
}


class Tracking(NamedTuple):
    """What `track` returns: the masks and the track table of a CTC result folder, in memory."""

    labels: np.ndarray
    """(T, H, W) uint16 label stack, one label per track (0: background), as `mask###.tif`."""
    tracks: np.ndarray
    """(N, 4) int64 rows `L B E P` (label, first frame, last frame, parent label or 0), sorted by
    label, as `res_track.txt`."""


@dataclass(frozen=True)
class Settings:
    """The stage configs `track` runs with."""

    preprocess: PreprocessConfig
    infer: InferConfig
    cluster: ClusterConfig
    link: LinkConfig


def model_folder(model: str | Path) -> Path:
    """A model folder: `general` names the one that ships with the package."""
    return Path(GENERAL_MODEL_FOLDER) if str(model) == GENERAL_MODEL else Path(model)


def estimated_diameter(stack: np.ndarray) -> float:
    """The cells' diameter estimated on frames spread over the time-lapse, as rule rescale does."""
    diameter = round(estimate_diameter([stack[t] for t in spread_picks(len(stack))]).diameter, 2)
    logger.warning(
        "the cells' diameter estimated from the frames: %.4g px (give object_diameter if it is "
        "known)",
        diameter,
    )
    return diameter


def model_settings(
    model: str | Path,
    object_diameter: float | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """The stage configs of a model folder, for objects of `object_diameter` if given.

    Each section is the schema's defaults, updated by the model folder's files its rule reads and
    then by `overrides` (sections `preprocess`, `infer`, `cluster`, `link`). With
    `object_diameter` (pixels of the frames), the working scale and the pixel sizes follow it as
    `adapt` makes them for a dataset whose objects have that diameter (see `rescaled`).
    """
    folder = model_folder(model)
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(SECTIONS))
    if unknown:
        raise ValueError(f"overrides: unknown sections {unknown}; known are {sorted(SECTIONS)}")
    records = {file: read_settings(folder / file) for file in (SETTINGS_FILE, POSTPROCESS_FILE)}
    values: dict[str, dict[str, Any]] = {}
    for section, (_, files) in SECTIONS.items():
        values[section] = {}
        for file in files:  # later files win, as in config.settings.stage_config
            values[section].update(records[file].get(section, {}))
    if object_diameter is not None:
        values = rescaled(values, records[SETTINGS_FILE], object_diameter)
    configs = {
        section: cls(**{**values[section], **overrides.get(section, {})})
        for section, (cls, _) in SECTIONS.items()
    }
    return Settings(**configs)


def working_frames(frames: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """Frames (T, H, W) normalised and resized to the working size, as preprocess stores them."""
    shape = scaled_shape(frames.shape[1:], cfg.scale)
    image = np.empty((len(frames), *shape), dtype=np.float32)
    for t, frame in enumerate(frames):
        image[t] = resize_image(normalise(frame, cfg, f"frame {t}")[0], shape)
    return image


def clustered_pairs(
    embedder: Embedder, image: np.ndarray, cfg: ClusterConfig, cosines: np.ndarray
) -> Iterator[np.ndarray]:
    """Pair labels (2, H, W) of each frame pair in order, clustered as soon as it is embedded.

    Each frame's cosine to the background goes into `cosines` (T, H, W) as link reads them from
    a pair-labels store: frame 0 from pair 0, frame t + 1 from pair t.
    """
    background = np.asarray(embedder.model.background_direction, dtype=np.float32)
    for t, pair in embedder.pairs(image):
        labels, cosine, _ = label_pair(pair, background, cfg)
        if t == 0:
            cosines[0] = cosine[0]
        cosines[t + 1] = cosine[1]
        yield labels


def frame_stack(frames: ArrayLike) -> np.ndarray:
    """The frames as a (T, H, W) array of at least two frames."""
    stack = np.asarray(frames)
    if stack.ndim != 3 or len(stack) < 2 or min(stack.shape[1:]) < 1:
        raise ValueError(
            f"frames: shape {stack.shape}; expected (T, H, W) with at least 2 frames (a 2-D "
            f"time-lapse, time first)"
        )
    if not (np.issubdtype(stack.dtype, np.integer) or np.issubdtype(stack.dtype, np.floating)):
        raise ValueError(f"frames: dtype {stack.dtype}; expected integer or floating-point pixels")
    return stack


def track(
    frames: ArrayLike,
    model: str | Path = GENERAL_MODEL,
    object_diameter: float | None = None,
    *,
    geff: str | Path | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    threads: int | None = None,
) -> Tracking:
    """Segment and track the cells of a 2-D time-lapse with a trained model folder.

    Args:
        frames: (T, H, W) intensity frames, time first, T >= 2 (any integer or float dtype).
        model: a model folder (`results/{dataset}/model/`: `model.pt`, `settings.yaml`,
            `postprocess.yaml`), or `general`, the general model that ships with the package.
        object_diameter: the cells' diameter in pixels of `frames`, when it differs from the
            model's training data: the working scale and the pixel-valued clustering and linking
            settings follow it (`rescaled`). None keeps a model folder's scale; for the general
            model it is estimated from the frames (`cosinetrack.algorithms.object_size`).
        geff: where to write the result as a GEFF tracks graph (a `.geff.zarr` folder, as the
            workflow's `export` rule writes it); None writes nothing.
        overrides: stage settings that win over the model folder's, by section (`preprocess`,
            `infer`, `cluster`, `link`), e.g. `{"infer": {"device": "cpu"}}`: what a workflow
            config sets for them.
        threads: CPU threads of the network (default: every CPU this process may use).

    Returns:
        `Tracking(labels, tracks)`: the (T, H, W) uint16 label stack and the (N, 4) int64 track
        table `L B E P`, sorted by label; labels are 1..N, as in a CTC result folder.
    """
    stack = frame_stack(frames)
    if str(model) == GENERAL_MODEL and object_diameter is None:
        object_diameter = estimated_diameter(stack)
    settings = model_settings(model, object_diameter, overrides)
    image = working_frames(stack, settings.preprocess)
    original = stack.shape[1:]
    logger.info(
        "tracking %d frames of %dx%d at working size %dx%d with %s",
        len(stack),
        *original,
        *image.shape[1:],
        model,
    )
    threads = threads or len(os.sched_getaffinity(0))
    embedder = Embedder.load(model_folder(model), settings.infer, threads)
    cosines = np.zeros(image.shape, dtype=np.float16)
    scratch = np.zeros(image.shape, dtype=np.uint32)
    stream = pair_stream(clustered_pairs(embedder, image, settings.cluster, cosines))
    outlines = Outlines(cosines, float(settings.cluster.background_threshold))
    tracks, masks = linked(stream, scratch, settings.link, original, outlines)
    if len(tracks) > ctc.UINT16_MAX:
        raise ValueError(f"{len(tracks)} tracks: more than the {ctc.UINT16_MAX} uint16 labels")
    mapping, table = ctc.compact_result(tracks)
    labels = np.stack([ctc.relabel(mask, mapping) for mask in masks])
    table = table[np.argsort(table[:, 0], kind="stable")]
    if geff is not None:
        frames_named = ((Path(f"frame {t}"), frame) for t, frame in enumerate(labels))
        objects = tracked_objects(frames_named, table, len(labels), Path("track"))
        write_geff(objects, Path(geff))
    logger.info("%d tracks, %d with a parent", len(table), int((table[:, 3] > 0).sum()))
    return Tracking(labels, table)
