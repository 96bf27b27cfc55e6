"""Choices made on validation data: the checkpoint, then the post-processing settings.

One chooser serves both kinds of dataset; a `Validation` says how its data is embedded, clustered
and scored. On time-lapses (`FrameValidation`) each choice runs the real stages (windowed
inference, pair clustering, linking) on frames that neither trained the network nor are scored as
a test, and scores them with py-ctcmetrics (SEG + TRA, or TRA alone where the validation frames
have no SEG); still images (`cosinetrack.stills.method`) are clustered one at a time and scored
per image, never linked. Candidates are tried in order with the current setting first, and a
candidate replaces it only when it scores strictly better, so ties keep the final weights and the
values derived from the object size. The chosen model, its post-processing settings and every
score land in the model folder, which then carries them to any dataset.
"""

from __future__ import annotations

import itertools
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
import torch

from cosinetrack.config.sections import ClusterConfig, EvaluateConfig, InferConfig, LinkConfig
from cosinetrack.config.settings import Stage, read_settings, stage_config
from cosinetrack.dag.resources import usable_threads
from cosinetrack.formats import ctc
from cosinetrack.formats.atomic import scratch_folder
from cosinetrack.formats.store import open_store
from cosinetrack.model.folder import TrainedModel, write_model_folder
from cosinetrack.stages.cluster import background_cosine, cluster_pair
from cosinetrack.stages.evaluate import score
from cosinetrack.stages.infer import TiledStream, embed_pairs, training_clip, windows
from cosinetrack.stages.link import Outlines, frame_cosines, pair_stream, write_tracks

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValidationPart:
    """Frames of one sequence to choose on, with their ground truth as a CTC folder of its own."""

    image: np.ndarray  # (T, H, W) float32, working size
    original: tuple[int, int]  # (H, W) of the original frames
    gt_dir: Path  # a `{seq}_GT` folder holding exactly these frames
    has_seg: bool  # whether any of these frames has SEG (else choices go by TRA alone)


def validation_part(
    store: Path, gt_dir: Path, frames: tuple[int, int], scratch: Path
) -> ValidationPart:
    """Read frames [start, stop) of a preprocessed store and cut their GT into `scratch`."""
    start, stop = frames
    group = open_store(store, "preprocessed")
    image = np.asarray(group["image"][start:stop])
    if len(image) < 2:
        raise ValueError(f"{store}: validation needs at least 2 frames, got {len(image)}")
    out = Path(scratch) / f"{Path(store).stem}_{start}_GT"
    ctc.write_ground_truth_slice(gt_dir, start, stop, out)
    original = tuple(group.attrs.get("original_shape", image.shape[1:]))
    return ValidationPart(image, original, out, any((out / "SEG").glob("*.tif")))


def embed(model: TrainedModel, image: np.ndarray, cfg: InferConfig) -> np.ndarray:
    """Unit embeddings of every frame pair of `image`, as inference makes them: (P, 2, D, H, W)."""
    network = model.network.to(memory_format=torch.channels_last)
    window = training_clip(model) if cfg.window is None else cfg.window
    shape = image.shape[1:]
    runs = windows(len(image), window)
    pairs = embed_pairs(image, lambda: TiledStream(network, shape, cfg), runs, torch.device("cpu"))
    return np.stack([pair for _, pair in sorted(pairs, key=lambda item: item[0])])


def clustered(embeddings: np.ndarray, background: np.ndarray, cfg: ClusterConfig) -> np.ndarray:
    """Pair labels (P, 2, H, W) of every frame pair."""
    return np.stack(
        [cluster_pair(np.asarray(pair, np.float32), background, cfg)[0] for pair in embeddings]
    )


def scored(
    labels: np.ndarray, outlines: Outlines, part: ValidationPart, cfg: LinkConfig, scratch: Path
) -> dict[str, float]:
    """Link pair labels into a CTC result and score it against the part's GT with py-ctcmetrics."""
    frames, height, width = len(labels) + 1, *labels.shape[-2:]
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        res = Path(folder) / "RES"
        shape = (frames, height, width)
        write_tracks(pair_stream(labels), res, shape, cfg, part.original, outlines)
        metrics = ["SEG", "DET", "TRA"] if part.has_seg else ["DET", "TRA"]
        values = score(res, part.gt_dir, EvaluateConfig(metrics=metrics))
    criterion = [values["TRA"], values["SEG"]] if part.has_seg else [values["TRA"]]
    return {**{k: values[k] for k in metrics}, "criterion": float(np.mean(criterion))}


class Validation(Protocol):
    """Validation data a choice is made on: how it is embedded, clustered and scored."""

    rows: list[dict[str, Any]]  # a row per setting tried: its stage, tags and scores
    recorded: tuple[str, ...]  # the scores postprocess.yaml keeps

    def embed(self, model: TrainedModel, infer: InferConfig) -> list[np.ndarray]:
        """Embeddings of every validation item (a part's frame pairs, an image) by `model`."""
        ...

    def run(
        self,
        stage: str,
        embeddings: list[np.ndarray],
        background: np.ndarray,
        cluster: ClusterConfig,
        link: LinkConfig,
        labels: list[np.ndarray] | None = None,
        **tags: Any,
    ) -> tuple[dict[str, Any], list[np.ndarray]]:
        """Score one setting (reclustering unless `labels` are given); return its row, labels."""
        ...


def logged(row: dict[str, Any]) -> dict[str, Any]:
    """Log a validation row, its scores rounded; return it."""
    logger.info("%s", {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
    return row


class FrameValidation:
    """Time-lapse validation parts: frame pairs embedded, clustered, linked, scored as CTC."""

    recorded = ("SEG", "DET", "TRA", "criterion")

    def __init__(self, parts: list[ValidationPart], scratch: Path) -> None:
        """Start an empty search over `parts`."""
        self.parts, self.scratch = parts, scratch
        self.rows: list[dict[str, Any]] = []

    def embed(self, model: TrainedModel, infer: InferConfig) -> list[np.ndarray]:
        """Unit embeddings (P, 2, D, H, W) of every part's frame pairs."""
        return [embed(model, part.image, infer) for part in self.parts]

    @staticmethod
    def cosines(embeddings: list[np.ndarray], background: np.ndarray) -> Iterator[np.ndarray]:
        """Each part's (P, 2, H, W) cosine to the background, made when its scoring needs it."""
        for pairs in embeddings:
            yield background_cosine(np.asarray(pairs, np.float32), background)

    def run(
        self,
        stage: str,
        embeddings: list[np.ndarray],
        background: np.ndarray,
        cluster: ClusterConfig,
        link: LinkConfig,
        labels: list[np.ndarray] | None = None,
        **tags: Any,
    ) -> tuple[dict[str, Any], list[np.ndarray]]:
        """Score one setting (reclustering unless `labels` are given); return its row, labels."""
        if labels is None:
            labels = [clustered(e, background, cluster) for e in embeddings]
        cosines = self.cosines(embeddings, background)
        scores = [
            scored(
                lab,
                Outlines(frame_cosines(cos), cluster.background_threshold),
                part,
                link,
                self.scratch,
            )
            for lab, cos, part in zip(labels, cosines, self.parts, strict=True)
        ]
        row = {"stage": stage, **tags}
        row.update({key: float(np.mean([s[key] for s in scores])) for key in scores[0]})
        self.rows.append(logged(row))
        return row, labels


def grid(
    base: dict[str, Any], options: dict[str, list[Any]], fixed: set[str]
) -> Iterator[dict[str, Any]]:
    """Every other combination of `options` for the keys not in `fixed` (the base left out)."""
    keys = [key for key in options if key not in fixed]
    values = [[base[key], *(v for v in options[key] if v != base[key])] for key in keys]
    for combination in itertools.product(*values):
        update = dict(zip(keys, combination, strict=True))
        if any(base[key] != value for key, value in update.items()):
            yield update


def cluster_options(cfg: ClusterConfig) -> dict[str, list[Any]]:
    """Post-processing values tried for clustering, around the current ones."""
    size = cfg.min_cluster_size
    return {
        "background_threshold": [0.1, 0.3, 0.5, 0.7],
        "min_cluster_size": sorted({max(cfg.min_samples + 1, size // 2), size, 2 * size}),
    }


def coordinate_options(cfg: ClusterConfig) -> dict[str, list[Any]]:
    """How far apart in space two cells must be for HDBSCAN to split them, tried after sizes.

    A larger coordinate weight splits touching cells whose embeddings the network did not part
    well (on sim-r24-512's validation frames 2x the derived weight raised SEG 0.806 -> 0.817 and
    TRA 0.937 -> 0.944); a smaller selection epsilon lets HDBSCAN keep closer clusters apart, and
    without a single cluster a packed region must split (a rod colony was one cell with both).
    """
    factor = cfg.coordinate_factor
    return {
        "coordinate_factor": [factor, 2 * factor, 4 * factor],
        # Larger first: on a tie the fewer splits win, as before epsilon 0 was tried.
        "selection_epsilon": sorted({0.0, 0.1, cfg.selection_epsilon}, reverse=True),
        "allow_single_cluster": [cfg.allow_single_cluster, not cfg.allow_single_cluster],
    }


def link_options(cfg: LinkConfig) -> dict[str, list[Any]]:
    """Linking values tried, around the current ones."""
    return {
        "iou_threshold": [0.15, 0.25, 0.4],
        "parent_dilation": sorted({cfg.parent_dilation, 2 * cfg.parent_dilation}),
    }


def outline_options(cfg: LinkConfig) -> dict[str, list[Any]]:
    """Ways of enlarging the masks tried last: following the cosine at thresholds, or not."""
    return {
        "outlines": ["embedding", "labels"],
        "outline_threshold": [None, -0.1, 0.1, 0.3, 0.5, 0.7],
    }


def redundant(link: LinkConfig) -> bool:
    """Whether a setting only changes an outline threshold that resizing masks alone ignores."""
    return link.outlines == "labels" and link.outline_threshold is not None


@dataclass(frozen=True)
class Step:
    """One step of the search: its stage name, the section it varies and the values it tries."""

    stage: str
    section: Literal["cluster", "link"]  # cluster steps recluster; link steps reuse the labels
    options: Callable[[Any], dict[str, list[Any]]]


# The time-lapse search: clustering (sizes, then separation), then linking and outlines.
TIMELAPSE_STEPS = (
    Step("cluster", "cluster", cluster_options),
    Step("coordinates", "cluster", coordinate_options),
    Step("link", "link", link_options),
    Step("outline", "link", outline_options),
)


def candidate_files(train_dir: Path) -> list[Path]:
    """The candidate weights of a training run, earliest first; the final model.pt last."""
    return [*sorted((Path(train_dir) / "candidates").glob("*.pt")), Path(train_dir) / "model.pt"]


def validation_parts(
    stores: dict[str, Path], root: Path, settings: Path
) -> list[tuple[Path, Path, tuple[int, int]]]:
    """(store, GT folder, frames) of every validation part that settings.yaml names."""
    split = read_settings(settings).get("validation", {})
    parts = [
        (stores[s], Path(root) / f"{s}_GT", (0, frame_count(stores[s])))
        for s in split.get("sequences", [])
    ]
    for sequence, (start, stop) in split.get("held_back", {}).items():
        parts.append((stores[sequence], Path(root) / f"{sequence}_GT", (start, stop)))
    if not parts:
        raise ValueError(f"{settings}: no validation frames to choose on; set adapt.tune: false")
    return parts


def frame_count(store: Path) -> int:
    """Frames of a preprocessed store."""
    return int(open_store(store, "preprocessed")["image"].shape[0])


@dataclass(frozen=True)
class Choosing:
    """What a select stage chooses for: a training run, its settings and the config's keys."""

    train_dir: Path  # the training run: model.pt and candidates/
    settings: Path  # the model folder's settings.yaml, with the validation split
    params: dict[str, dict[str, Any]]  # every stage's workflow config
    explicit: dict[str, dict[str, Any]]  # the keys the user set: never searched
    tune: bool  # choose on validation data, else keep the final weights and derived settings
    out_dir: Path  # the model folder to write

    def config(self, cls: type[Stage], section: str) -> Stage:
        """A stage's config: the workflow's, then settings.yaml's, then the user's keys."""
        return stage_config(cls, section, self.params[section], [self.settings], self.explicit)

    def infer(self) -> InferConfig:
        """Inference as the choice runs it, on the CPU."""
        return InferConfig(**{**self.params["infer"], "device": "cpu"})


def frame_validation(
    stores: dict[str, Path], root: Path, settings: Path, scratch: Path
) -> FrameValidation:
    """The validation parts settings.yaml names, their GT cut into `scratch`."""
    parts = validation_parts(stores, root, settings)
    return FrameValidation([validation_part(*part, scratch) for part in parts], scratch)


def run_select(choosing: Choosing, stores: dict[str, Path], root: Path, threads: int = 1) -> None:
    """Choose checkpoint and post-processing on the validation frames settings.yaml names."""
    validation = partial(frame_validation, stores, root, choosing.settings)
    select_model(choosing, validation, TIMELAPSE_STEPS, threads)


def select_model(
    choosing: Choosing,
    validation: Callable[[Path], Validation],
    steps: tuple[Step, ...],
    threads: int = 1,
) -> None:
    """Choose on the validation data made in a scratch folder (tuning), write the model folder."""
    torch.set_num_threads(usable_threads(threads))
    cluster, link = choosing.config(ClusterConfig, "cluster"), choosing.config(LinkConfig, "link")
    train_dir, out_dir = Path(choosing.train_dir), Path(choosing.out_dir)
    chosen, scores, recorded = train_dir / "model.pt", {}, ()
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    if choosing.tune:
        with scratch_folder(out_dir / ".select.scratch") as scratch:
            data = validation(Path(scratch))
            candidates = candidate_files(train_dir)
            chosen, cluster, link, scores = choose(
                data, candidates, cluster, link, choosing.explicit, choosing.infer(), steps
            )
            rows, recorded = data.rows, data.recorded
    pd.DataFrame(rows, columns=None if rows else ["stage"]).to_csv(
        out_dir / "validation.csv", index=False
    )
    record = chosen_settings({"cluster": cluster, "link": link}, steps)
    record["validation_scores"] = {k: scores[k] for k in recorded if k in scores}
    write_model_folder(out_dir, chosen, train_dir, record)


def chosen_settings(
    configs: dict[str, ClusterConfig | LinkConfig], steps: tuple[Step, ...]
) -> dict[str, Any]:
    """The values of every key the search steps try, by section: what postprocess.yaml keeps."""
    record: dict[str, Any] = {}
    for step in steps:
        cfg = configs[step.section]
        record.setdefault(step.section, {}).update({k: getattr(cfg, k) for k in step.options(cfg)})
    return record


@dataclass
class Current:
    """The setting to beat: its row, configs and labels, on the chosen checkpoint's embeddings."""

    row: dict[str, Any]
    configs: dict[str, Any]  # "cluster": ClusterConfig, "link": LinkConfig
    labels: list[np.ndarray]
    embeddings: list[np.ndarray]
    background: np.ndarray


def best_checkpoint(
    validation: Validation,
    candidates: list[Path],
    cluster: ClusterConfig,
    link: LinkConfig,
    infer: InferConfig,
) -> tuple[Path, Current]:
    """The best candidate weights under the derived settings, and that setting as the current."""
    best = None
    for path in reversed(candidates):  # the final weights first: they win ties
        model = TrainedModel.from_file(path)
        background = np.asarray(model.background_direction, np.float32)
        embeddings = validation.embed(model, infer)
        row, labels = validation.run(
            "checkpoint", embeddings, background, cluster, link, checkpoint=path.name
        )
        if best is None or row["criterion"] > best[1].row["criterion"]:
            configs = {"cluster": cluster, "link": link}
            best = (path, Current(row, configs, labels, embeddings, background))
    if best is None:
        raise ValueError("no candidate weights to choose from")
    return best


def search_step(validation: Validation, step: Step, current: Current, fixed: set[str]) -> None:
    """Try every other value of a step's options (`fixed` keys kept); keep any strictly better."""
    base = current.configs[step.section]
    for update in grid(base.model_dump(), step.options(base), fixed):
        trial = {**current.configs, step.section: base.model_copy(update=update)}
        if step.section == "link" and redundant(trial["link"]):
            continue
        row, labels = validation.run(
            step.stage,
            current.embeddings,
            current.background,
            trial["cluster"],
            trial["link"],
            labels=current.labels if step.section == "link" else None,
            **update,
        )
        if row["criterion"] > current.row["criterion"]:
            current.row, current.configs, current.labels = row, trial, labels


def choose(
    validation: Validation,
    candidates: list[Path],
    cluster: ClusterConfig,
    link: LinkConfig,
    explicit: dict[str, dict[str, Any]],
    infer: InferConfig,
    steps: tuple[Step, ...] = TIMELAPSE_STEPS,
) -> tuple[Path, ClusterConfig, LinkConfig, dict[str, Any]]:
    """The best checkpoint, then each step's best values; a trial wins only if strictly better."""
    path, current = best_checkpoint(validation, candidates, cluster, link, infer)
    for step in steps:
        search_step(validation, step, current, set(explicit.get(step.section, {})))
    return path, current.configs["cluster"], current.configs["link"], current.row
