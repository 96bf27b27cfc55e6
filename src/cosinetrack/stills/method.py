"""The cosine-embedding method on still images: train, choose on validation images, segment.

The time-lapse machinery runs unchanged on images of one frame: the network is built without
recurrence (`ModelConfig.recurrent` false: the skips bypass the ConvGRUs), it trains on clips of
one frame (`clip_frames` 1, each image a one-frame `TrainingSequence`) with the same loss and its
neighbour relaxation, an image is embedded by one step from zero memory (`infer.TiledStream`,
tiled as in inference) and clustered alone (`cluster.cluster_pair` on a (1, D, H, W) volume, whose
3-D connectivity reduces to 8-connectivity in the plane). Nothing is linked. Checkpoint and
clustering are chosen by the time-lapses' chooser (`stages.select.choose`), on validation images
scored per image (`ImageValidation`) and with the clustering sizes as its only search step.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from skimage.segmentation import relabel_sequential

from cosinetrack.algorithms.resample import resize_image, resize_labels, scaled_shape
from cosinetrack.config.sections import (
    ClusterConfig,
    InferConfig,
    LinkConfig,
    ModelConfig,
    PreprocessConfig,
    TrainConfig,
)
from cosinetrack.config.settings import read_settings
from cosinetrack.dag.resources import usable_threads
from cosinetrack.model.clips import TrainingSequence
from cosinetrack.model.device import choose_device
from cosinetrack.model.folder import TrainedModel
from cosinetrack.stages.cluster import cluster_pair
from cosinetrack.stages.infer import TiledStream
from cosinetrack.stages.preprocess import normalise
from cosinetrack.stages.select import Choosing, Step, cluster_options, logged, select_model
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


class ImageValidation:
    """The validation images, embedded per checkpoint, clustered and scored per setting."""

    recorded = ("seg", "f1", "criterion")

    def __init__(self, paths: list[Path], preprocess: PreprocessConfig) -> None:
        """Read and prepare the images and their masks once."""
        self.images = [prepared(read_image(p), preprocess, str(p)) for p in paths]
        self.masks = [read_mask(p, read_image(p).shape) for p in paths]
        self.rows: list[dict[str, Any]] = []

    def embed(self, model: TrainedModel, infer: InferConfig) -> list[np.ndarray]:
        """Unit embeddings of every validation image."""
        return [embed_image(model, image, infer) for image in self.images]

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
        """Pooled scores of one clustering (images are not linked) and its labels per image.

        The criterion is the mean of SEG and F1 at IoU 0.5.
        """
        if labels is None:
            labels = [cluster_image(unit, background, cluster) for unit in embeddings]
        total = Counts(0, 0, 0, 0.0, 0.0)
        for image, mask in zip(labels, self.masks, strict=True):
            total += count_image(mask, resize_labels(image, mask.shape))
        scores = total.scores()
        row = {"stage": stage, **tags, **scores, "criterion": (scores["seg"] + scores["f1"]) / 2}
        self.rows.append(logged(row))
        return row, labels


# Images are clustered alone and never linked: the search tries the clustering's sizes only.
IMAGE_STEPS = (Step("cluster", "cluster", cluster_options),)


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


def image_validation(
    root: Path, settings: Path, preprocess: PreprocessConfig, scratch: Path
) -> ImageValidation:
    """The validation images settings.yaml names, prepared (`scratch` unused: no files)."""
    return ImageValidation(validation_paths(root, settings), preprocess)


def run_images_select(choosing: Choosing, root: Path, threads: int = 1) -> None:
    """Choose checkpoint and clustering on the validation images; write the model folder."""
    preprocess = choosing.config(PreprocessConfig, "preprocess")
    validation = partial(image_validation, root, choosing.settings, preprocess)
    select_model(choosing, validation, IMAGE_STEPS, threads)


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
