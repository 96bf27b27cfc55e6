"""Choices made on validation frames: the checkpoint, then the post-processing settings.

Each choice runs the real stages (windowed inference, pair clustering, linking) on frames that
neither trained the network nor are scored as a test, and scores them with py-ctcmetrics
(SEG + TRA, or TRA alone where the validation frames have no SEG). Candidates are tried in order
with the current setting first, and a candidate replaces it only when it scores strictly better,
so ties keep the values derived from the object size. The chosen model, its post-processing
settings and every score land in the model folder, which then carries them to any dataset.
"""

from __future__ import annotations

import itertools
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


class Search:
    """Scores settings on every validation part and keeps a row per setting tried."""

    def __init__(self, parts: list[ValidationPart], scratch: Path) -> None:
        """Start an empty search over `parts`."""
        self.parts, self.scratch = parts, scratch
        self.rows: list[dict[str, Any]] = []

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
        self.rows.append(row)
        logger.info("%s", {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
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
    TRA 0.937 -> 0.944); a smaller selection epsilon lets HDBSCAN keep closer clusters apart.
    """
    factor = cfg.coordinate_factor
    return {
        "coordinate_factor": [factor, 2 * factor, 4 * factor],
        "selection_epsilon": sorted({0.1, cfg.selection_epsilon}),
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


def run_select(choosing: Choosing, stores: dict[str, Path], root: Path, threads: int = 1) -> None:
    """Choose checkpoint and post-processing on the validation frames settings.yaml names."""
    torch.set_num_threads(usable_threads(threads))
    cluster, link = choosing.config(ClusterConfig, "cluster"), choosing.config(LinkConfig, "link")
    train_dir, explicit, tune = choosing.train_dir, choosing.explicit, choosing.tune
    candidates = candidate_files(train_dir) if tune else [Path(train_dir) / "model.pt"]
    chosen, scores = candidates[-1], {}
    out_dir = Path(choosing.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with scratch_folder(out_dir / ".select.scratch") as scratch:
        if tune:
            parts = validation_parts(stores, root, choosing.settings)
            search = Search([validation_part(*p, Path(scratch)) for p in parts], Path(scratch))
            chosen, cluster, link, scores = choose(
                search, candidates, cluster, link, explicit, choosing.infer()
            )
            pd.DataFrame(search.rows).to_csv(out_dir / "validation.csv", index=False)
        else:
            pd.DataFrame([], columns=["stage"]).to_csv(out_dir / "validation.csv", index=False)
    record = {
        "cluster": {
            k: getattr(cluster, k)
            for k in {**cluster_options(cluster), **coordinate_options(cluster)}
        },
        "link": {k: getattr(link, k) for k in {**link_options(link), **outline_options(link)}},
        "validation_scores": {
            k: scores[k] for k in ("SEG", "DET", "TRA", "criterion") if k in scores
        },
    }
    write_model_folder(out_dir, chosen, train_dir, record)


def choose(
    search: Search,
    candidates: list[Path],
    cluster: ClusterConfig,
    link: LinkConfig,
    explicit: dict[str, dict[str, Any]],
    infer: InferConfig,
) -> tuple[Path, ClusterConfig, LinkConfig, dict[str, Any]]:
    """The best checkpoint, its best clustering (sizes, then separation), then linking."""
    best = None
    for path in reversed(candidates):  # the final weights first: they win ties
        model = TrainedModel.from_file(path)
        background = np.asarray(model.background_direction, np.float32)
        embeddings = [embed(model, part.image, infer) for part in search.parts]
        row, labels = search.run(
            "checkpoint", embeddings, background, cluster, link, checkpoint=path.name
        )
        if best is None or row["criterion"] > best[0]["criterion"]:
            best = (row, path, embeddings, background, labels)
    row, path, embeddings, background, labels = best
    fixed = set(explicit.get("cluster", {}))
    for stage, options in (("cluster", cluster_options), ("coordinates", coordinate_options)):
        for update in grid(cluster.model_dump(), options(cluster), fixed):
            trial = cluster.model_copy(update=update)
            trial_row, trial_labels = search.run(
                stage, embeddings, background, trial, link, **update
            )
            if trial_row["criterion"] > row["criterion"]:
                row, cluster, labels = trial_row, trial, trial_labels
    fixed = set(explicit.get("link", {}))
    for stage, options in (("link", link_options), ("outline", outline_options)):
        for update in grid(link.model_dump(), options(link), fixed):
            trial = link.model_copy(update=update)
            if redundant(trial):
                continue
            trial_row, _ = search.run(
                stage, embeddings, background, cluster, trial, labels=labels, **update
            )
            if trial_row["criterion"] > row["criterion"]:
                row, link = trial_row, trial
    return path, cluster, link, row
