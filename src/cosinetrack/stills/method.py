"""The cosine-embedding method on still images: train, choose on validation images, segment.

The time-lapse machinery runs unchanged on images of one frame: the network is built without
recurrence (`ModelConfig.recurrent` false: the skips bypass the ConvGRUs), it trains on clips of
one frame (`clip_frames` 1, each image a one-frame `TrainingSequence`) with the same loss and its
neighbour relaxation, an image is embedded by one step from zero memory (`infer.TiledStream`,
tiled as in inference) and clustered alone (`cluster.cluster_pair` on a (1, D, H, W) volume, whose
3-D connectivity reduces to 8-connectivity in the plane). Nothing is linked.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from skimage.segmentation import relabel_sequential

from cosinetrack.algorithms.resample import resize_image, resize_labels, scaled_shape
from cosinetrack.config.sections import (
    ClusterConfig,
    InferConfig,
    ModelConfig,
    PreprocessConfig,
    TrainConfig,
)
from cosinetrack.config.settings import read_settings
from cosinetrack.dag.resources import usable_threads
from cosinetrack.model.clips import TrainingSequence
from cosinetrack.model.device import choose_device
from cosinetrack.model.folder import TrainedModel, write_model_folder
from cosinetrack.stages.cluster import cluster_pair
from cosinetrack.stages.infer import TiledStream
from cosinetrack.stages.preprocess import normalise
from cosinetrack.stages.select import Choosing, candidate_files, cluster_options, grid
from cosinetrack.stages.train import train_sequences, training_signature
from cosinetrack.stills.dataset import (
    image_paths,
    read_image,
    read_mask,
    training_images,
    write_labels,
)
from cosinetrack.stills.scores import Counts, count_image

logger = logging.getLogger(__name__)


def prepared(image: np.ndarray, cfg: PreprocessConfig, name: str) -> np.ndarray:
    """Normalise an image as the time-lapse frames are, and resize it to the working scale."""
    normalised, _, _ = normalise(image, cfg, name)
    return resize_image(normalised, scaled_shape(normalised.shape, cfg.scale))


def still_sequence(path: Path, cfg: PreprocessConfig) -> TrainingSequence:
    """An image and its mask at the working scale, as a training sequence of one frame."""
    raw = read_image(path)
    image = prepared(raw, cfg, str(path))
    labels = relabel_sequential(read_mask(path, raw.shape))[0]
    labels = resize_labels(labels, image.shape).astype(np.int32)
    return TrainingSequence(path.name, image[None], labels[None], labels[None] == 0, 1)


def still_configs(model: ModelConfig, train: TrainConfig) -> tuple[ModelConfig, TrainConfig]:
    """The network without recurrence and clips of one frame, whatever the workflow config says."""
    return model.model_copy(update={"recurrent": False}), train.model_copy(
        update={"clip_frames": 1}
    )


def run_images_train(
    root: Path,
    train: list[str],
    settings: Path,
    out_dir: Path,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    preprocess: PreprocessConfig,
    threads: int = 1,
) -> None:
    """Train the network without recurrence on the training images (held-back ones excluded)."""
    paths = training_images(root, train, read_settings(settings))
    model_cfg, cfg = still_configs(model_cfg, cfg)
    logger.info("training on %d images without recurrence, clips of one frame", len(paths))
    sequences = [still_sequence(path, preprocess) for path in paths]
    signature = training_signature(model_cfg, cfg, paths, [None] * len(paths))
    train_sequences(sequences, Path(out_dir), model_cfg, cfg, signature, threads)


def embed_image(model: TrainedModel, image: np.ndarray, cfg: InferConfig) -> np.ndarray:
    """Unit embeddings (D, H, W) of one prepared image: one step from zero memory, tiled."""
    stream = TiledStream(model.network, image.shape, cfg)
    device = next(model.network.parameters()).device
    frame = torch.from_numpy(np.ascontiguousarray(image, np.float32)).to(device)  # (H, W)
    return stream(frame).float().cpu().numpy()


def cluster_image(unit: np.ndarray, background: np.ndarray, cfg: ClusterConfig) -> np.ndarray:
    """Instance labels (H, W) of one image's unit embeddings (D, H, W)."""
    labels, _ = cluster_pair(unit[None], background, cfg)  # (1, H, W): a one-frame volume
    return labels[0]


def segmented(
    unit: np.ndarray, background: np.ndarray, cfg: ClusterConfig, shape: tuple[int, ...]
) -> np.ndarray:
    """Instance labels of an image, clustered at the working size and resized to `shape`."""
    return resize_labels(cluster_image(unit, background, cfg), tuple(shape))


class Validation:
    """The validation images, embedded per checkpoint, scored per clustering setting."""

    def __init__(self, paths: list[Path], preprocess: PreprocessConfig) -> None:
        """Read and prepare the images and their masks once."""
        self.images = [prepared(read_image(p), preprocess, str(p)) for p in paths]
        self.masks = [read_mask(p, read_image(p).shape) for p in paths]
        self.rows: list[dict[str, Any]] = []

    def embed(self, model: TrainedModel, cfg: InferConfig) -> list[np.ndarray]:
        """Unit embeddings of every validation image."""
        return [embed_image(model, image, cfg) for image in self.images]

    def score(
        self, units: list[np.ndarray], background: np.ndarray, cfg: ClusterConfig, **tags: Any
    ) -> dict[str, Any]:
        """Pooled scores of one setting; the criterion is the mean of SEG and F1 at IoU 0.5."""
        total = Counts(0, 0, 0, 0.0, 0.0)
        for unit, mask in zip(units, self.masks, strict=True):
            total += count_image(mask, segmented(unit, background, cfg, mask.shape))
        scores = total.scores()
        row = {**tags, **scores, "criterion": (scores["seg"] + scores["f1"]) / 2}
        self.rows.append(row)
        logger.info("%s", {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
        return row


def validation_paths(root: Path, settings: Path) -> list[Path]:
    """The validation images settings.yaml names."""
    chosen = read_settings(settings).get("validation", {})
    paths = [
        path
        for split, names in chosen.items()
        for path in image_paths(root, split)
        if path.name in names
    ]
    if not paths:
        raise ValueError(f"{settings}: no validation images to choose on; set adapt.tune: false")
    return paths


def choose(
    validation: Validation,
    candidates: list[Path],
    cluster: ClusterConfig,
    fixed: set[str],
    infer: InferConfig,
) -> tuple[Path, ClusterConfig, dict[str, Any]]:
    """The best checkpoint with the derived clustering, then the best clustering for it."""
    checkpoints = []
    for path in reversed(candidates):  # the final weights first: max keeps the first of a tie
        model = TrainedModel.from_file(path)
        background = np.asarray(model.background_direction, np.float32)
        units = validation.embed(model, infer)
        row = validation.score(units, background, cluster, stage="checkpoint", checkpoint=path.name)
        checkpoints.append((row, path, units, background))
    row, path, units, background = max(checkpoints, key=lambda c: c[0]["criterion"])
    chosen = cluster
    for update in grid(cluster.model_dump(), cluster_options(cluster), fixed):
        option = cluster.model_copy(update=update)
        scored = validation.score(units, background, option, stage="cluster", **update)
        if scored["criterion"] > row["criterion"]:  # strictly better, or the derived one stays
            row, chosen = scored, option
    return path, chosen, row


def run_images_select(choosing: Choosing, root: Path, threads: int = 1) -> None:
    """Choose checkpoint and clustering on the validation images; write the model folder."""
    torch.set_num_threads(usable_threads(threads))
    preprocess = choosing.config(PreprocessConfig, "preprocess")
    cluster = choosing.config(ClusterConfig, "cluster")
    train_dir, out_dir = Path(choosing.train_dir), Path(choosing.out_dir)
    chosen, scores = train_dir / "model.pt", {}
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    if choosing.tune:
        validation = Validation(validation_paths(root, choosing.settings), preprocess)
        fixed = set(choosing.explicit.get("cluster", {}))
        chosen, cluster, scores = choose(
            validation, candidate_files(train_dir), cluster, fixed, choosing.infer()
        )
        rows = validation.rows
    pd.DataFrame(rows, columns=None if rows else ["stage"]).to_csv(
        out_dir / "validation.csv", index=False
    )
    record = {
        "cluster": {k: getattr(cluster, k) for k in cluster_options(cluster)},
        "validation_scores": {k: scores[k] for k in ("seg", "f1", "criterion") if k in scores},
    }
    write_model_folder(out_dir, chosen, train_dir, record)


def run_images_segment(
    root: Path,
    split: str,
    model_dir: Path,
    out_dir: Path,
    preprocess: PreprocessConfig,
    cluster: ClusterConfig,
    infer: InferConfig,
    threads: int = 1,
) -> None:
    """Segment every image of a split with a trained model into labelled TIFFs (original size)."""
    torch.set_num_threads(usable_threads(threads))
    model = TrainedModel.from_folder(model_dir, choose_device(infer.device))
    background = np.asarray(model.background_direction, np.float32)
    labels = {}
    for path in image_paths(root, split):
        raw = read_image(path)
        unit = embed_image(model, prepared(raw, preprocess, str(path)), infer)
        labels[path.name] = segmented(unit, background, cluster, raw.shape)
    write_labels(Path(out_dir), labels)
    counts = sum(int(len(np.unique(image)) - 1) for image in labels.values())
    logger.info("%s: %d images, %d objects", out_dir, len(labels), counts)
