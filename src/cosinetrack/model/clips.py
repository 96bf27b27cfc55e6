"""Training clips: random runs of consecutive frames, cropped and augmented identically per clip.

A clip keeps one label per track over all its frames, which is what lets the loss take one mean
embedding per track per clip. A crop is drawn uniformly over the frames, or (a share
`train.object_crops`) centred on an instance, so that sparse objects are seen. Labels are
renumbered 0..K per clip (0 = no instance) and the
neighbour matrix of the K instances comes along with the pixels certain to be background (a pixel
of label 0 near a cell known only by its marker is neither), so the loss needs no further
bookkeeping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import zarr

from cosinetrack.config.sections import TrainConfig
from cosinetrack.formats.store import open_store
from cosinetrack.model.neighbours import neighbour_matrix

# Training frames (image, labels, background: 7 bytes a pixel) up to this size are read into memory
# once; a clip read from the Zarr store costs about as much as the network's step on the default
# data. Larger sequences are read clip by clip.
IN_MEMORY_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class TrainingSequence:
    """A preprocessed sequence with ground truth, in memory or read clip by clip from its store."""

    name: str
    image: np.ndarray | zarr.Array  # (T, H, W) float32
    labels: np.ndarray | zarr.Array  # (T, H, W) uint16 track ids
    background: np.ndarray | zarr.Array  # (T, H, W) bool, pixels certain to be background
    frames: int  # frames used for training: the first of the store (held-back ones excluded)


@dataclass(frozen=True)
class Clip:
    """One augmented training clip."""

    image: np.ndarray  # (T, H, W) float32
    instances: np.ndarray  # (T, H, W) int64, 0 = no instance, 1..K instances
    neighbours: np.ndarray  # (K+1, K+1) bool
    background: np.ndarray  # (T, H, W) bool, pixels certain to be background
    valid: np.ndarray  # (T, H, W) bool, False on instances left out of the loss


@dataclass(frozen=True)
class Batch:
    """Clips stacked into tensors for the network and the loss."""

    image: torch.Tensor  # (B, T, 1, H, W) float32
    instances: torch.Tensor  # (B, T, H, W) int64
    neighbours: torch.Tensor  # (B, K+1, K+1) bool, K the largest count in the batch
    background: torch.Tensor  # (B, T, H, W) bool
    valid: torch.Tensor  # (B, T, H, W) bool

    def to(self, device: torch.device) -> Batch:
        """Move every tensor to `device`."""
        return Batch(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))


def open_training_sequence(path: Path, stop: int | None = None) -> TrainingSequence:
    """Open a preprocessed store for training (frames before `stop`), refusing one without GT."""
    group = open_store(path, "preprocessed")
    if "labels" not in group:
        raise ValueError(
            f"{path}: sequence {group.attrs.get('sequence')} has no ground truth "
            f"({group.attrs.get('source')}_GT/TRA not found); "
            f"list only sequences with GT under `train`"
        )
    if "background" not in group:
        raise ValueError(f"{path}: made by an older version without `background`; delete it")
    frames = len(range(group["image"].shape[0])[:stop])
    arrays = [group[name] for name in ("image", "labels", "background")]
    if frames * math.prod(group["image"].shape[1:]) * 7 <= IN_MEMORY_BYTES:
        arrays = [np.asarray(array[:frames]) for array in arrays]
    return TrainingSequence(Path(path).stem, *arrays, frames)


def check_background_known(stores: list[Path], stops: list[int | None]) -> None:
    """Refuse, before the first step, training frames that nowhere say what is background."""
    for path, stop in zip(stores, stops, strict=True):
        if open_store(path, "preprocessed")["background_pixels"][:stop].any():
            return
    raise ValueError(
        f"no training frame of {[str(p) for p in stores]} has a pixel certain to be background: "
        f"every pixel lies in a cell's mask or within preprocess.marker_margin of a TRA marker "
        f"without a mask; give SEG or silver-truth (_ST) masks, or lower preprocess.marker_margin"
    )


def check_clip_fits(sequences: list[TrainingSequence], cfg: TrainConfig) -> None:
    """Refuse a crop or clip length larger than the training frames, naming the config key."""
    for seq in sequences:
        _, height, width = seq.image.shape
        frames = seq.frames
        if cfg.crop > min(height, width):
            raise ValueError(
                f"train.crop = {cfg.crop} is larger than the {height}x{width} frames of sequence "
                f"{seq.name}; set train.crop to at most {min(height, width)}"
            )
        if cfg.clip_frames > frames:
            raise ValueError(
                f"train.clip_frames = {cfg.clip_frames} exceeds the {frames} frames of sequence "
                f"{seq.name}; set train.clip_frames to at most {frames}"
            )


def renumber(
    labels: np.ndarray, max_instances: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Renumber a clip's track ids to 1..K, keeping at most `max_instances` chosen at random.

    Returns the instances (T, H, W) int64 and a validity mask that is False on the pixels of
    instances left out, so they count neither as instance nor as background.
    """
    ids = np.unique(labels)
    ids = ids[ids > 0]
    if len(ids) > max_instances:
        keep = np.sort(rng.choice(ids, size=max_instances, replace=False))
    else:
        keep = ids
    lookup = np.zeros(int(labels.max(initial=0)) + 1, dtype=np.int64)
    lookup[keep] = np.arange(1, len(keep) + 1)
    instances = lookup[labels]
    valid = (labels == 0) | (instances > 0)
    return instances, valid


def augment(
    image: np.ndarray, masks: list[np.ndarray], cfg: TrainConfig, rng: np.random.Generator
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Flip, rotate by a multiple of 90 degrees and rescale intensities, alike for all frames.

    `masks` (labels, background) (T, H, W) are turned and flipped with the image.
    """
    k = int(rng.integers(4))
    image, masks = np.rot90(image, k, axes=(1, 2)), [np.rot90(m, k, axes=(1, 2)) for m in masks]
    if rng.random() < 0.5:
        image, masks = image[:, :, ::-1], [m[:, :, ::-1] for m in masks]
    scale = 1.0 + rng.uniform(-cfg.intensity_scale, cfg.intensity_scale)
    shift = rng.uniform(-cfg.intensity_shift, cfg.intensity_shift)
    image = image * np.float32(scale) + np.float32(shift)
    return np.ascontiguousarray(image, dtype=np.float32), [np.ascontiguousarray(m) for m in masks]


def instance_pixel(labels: np.ndarray, rng: np.random.Generator) -> tuple[int, int] | None:
    """A pixel of an instance drawn uniformly over a frame's instances; None in an empty frame.

    `labels` (H, W) holds every cell known in the frame (its mask, or its TRA marker alone), so
    sparse or partial ground truth still names the cells there are.
    """
    inside = np.flatnonzero(labels)
    if not len(inside):
        return None
    ids = labels.flat[inside]
    chosen = rng.choice(np.unique(ids))
    pixels = inside[ids == chosen]
    y, x = divmod(int(pixels[rng.integers(len(pixels))]), labels.shape[1])
    return y, x


def centred_crop(
    centre: tuple[int, int], crop: int, shape: tuple[int, int], rng: np.random.Generator
) -> tuple[int, int]:
    """The corner of a crop around `centre`, shifted by up to a quarter crop, within the frame.

    The shift keeps objects off the crop's centre alone; `centre` stays inside the crop.
    """
    reach = crop // 4
    shift = rng.integers(-reach, reach + 1, size=2)
    y, x = (
        int(np.clip(c - crop // 2 + s, 0, side - crop))
        for c, s, side in zip(centre, shift, shape, strict=True)
    )
    return y, x


def crop_corner(
    seq: TrainingSequence, t: int, cfg: TrainConfig, rng: np.random.Generator
) -> tuple[int, int]:
    """A crop's corner: on an instance of frame `t` (share `object_crops`), else uniform.

    With `object_crops` 0 no random number is drawn beyond the uniform corner, so runs made before
    the key existed draw the same clips.
    """
    _, height, width = seq.image.shape
    if cfg.object_crops > 0 and rng.random() < cfg.object_crops:
        centre = instance_pixel(np.asarray(seq.labels[t]), rng)
        if centre is not None:
            return centred_crop(centre, cfg.crop, (height, width), rng)
    y = int(rng.integers(height - cfg.crop + 1))
    x = int(rng.integers(width - cfg.crop + 1))
    return y, x


def sample_clip(
    sequences: list[TrainingSequence], cfg: TrainConfig, rng: np.random.Generator
) -> Clip:
    """Draw a random clip: a sequence (by frame count), a start frame, a crop, an augmentation."""
    weights = np.array([seq.frames - cfg.clip_frames + 1 for seq in sequences], dtype=float)
    seq = sequences[int(rng.choice(len(sequences), p=weights / weights.sum()))]
    t = int(rng.integers(seq.frames - cfg.clip_frames + 1))
    y, x = crop_corner(seq, t, cfg, rng)
    window = (slice(t, t + cfg.clip_frames), slice(y, y + cfg.crop), slice(x, x + cfg.crop))
    image, (labels, background) = augment(
        seq.image[window], [seq.labels[window], seq.background[window]], cfg, rng
    )
    instances, valid = renumber(labels, cfg.max_instances, rng)
    count = int(instances.max(initial=0))
    neighbours = neighbour_matrix(instances, count, cfg.neighbour_radius)
    return Clip(image, instances, neighbours, background, valid)


def collate(clips: list[Clip]) -> Batch:
    """Stack clips into a batch, padding neighbour matrices to the largest instance count."""
    size = max(len(clip.neighbours) for clip in clips)
    neighbours = np.zeros((len(clips), size, size), dtype=bool)
    for b, clip in enumerate(clips):
        n = len(clip.neighbours)
        neighbours[b, :n, :n] = clip.neighbours
    return Batch(
        image=torch.from_numpy(np.stack([c.image for c in clips]))[:, :, None],  # (B, T, 1, H, W)
        instances=torch.from_numpy(np.stack([c.instances for c in clips])),
        neighbours=torch.from_numpy(neighbours),
        background=torch.from_numpy(np.stack([c.background for c in clips])),
        valid=torch.from_numpy(np.stack([c.valid for c in clips])),
    )
