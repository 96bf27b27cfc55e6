"""Streaming inference: run the trained network over a whole sequence into an embeddings store.

Frames are fed one at a time and the ConvGRU state is carried from frame to frame, so memory is
bounded by one frame however long the sequence is. Frames larger than `infer.tile` are cut into
overlapping tiles on a fixed grid; every tile keeps its own recurrent state for the whole sequence
(the network sees the same tile window in every frame, as it saw fixed crops in training), and each
output pixel is taken from the tile whose centre is nearest, so the half-overlap next to a tile
edge, where zero padding distorts the features, is never used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import zarr
from tqdm import tqdm

from cosinetrack.config.sections import InferConfig
from cosinetrack.dag.provenance import provenance
from cosinetrack.dag.resources import usable_threads
from cosinetrack.formats.atomic import atomic_path
from cosinetrack.formats.store import frame_array, open_store
from cosinetrack.model import StackedHourglass, State
from cosinetrack.model.device import choose_device
from cosinetrack.model.folder import TrainedModel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Span:
    """A tile's extent along one axis and the part of it whose output is kept."""

    start: int
    stop: int
    keep_start: int
    keep_stop: int


def tile_spans(size: int, tile: int, overlap: int) -> list[Span]:
    """Cut an axis into tiles of `tile` overlapping by at least `overlap`; halve each overlap."""
    if size <= tile:
        return [Span(0, size, 0, size)]
    step = max(tile - overlap, 1)
    starts = [*range(0, size - tile, step), size - tile]
    bounds = (
        [0] + [(starts[i + 1] + starts[i] + tile) // 2 for i in range(len(starts) - 1)] + [size]
    )
    return [Span(s, s + tile, bounds[i], bounds[i + 1]) for i, s in enumerate(starts)]


class TiledStream:
    """Embeds frames one by one, with one recurrent state per tile of a fixed tile grid."""

    def __init__(self, network: StackedHourglass, shape: tuple[int, int], cfg: InferConfig) -> None:
        """Lay out the tile grid for frames of `shape` (height, width)."""
        self.network = network
        self.rows = tile_spans(shape[0], cfg.tile, cfg.tile_overlap)
        self.cols = tile_spans(shape[1], cfg.tile, cfg.tile_overlap)
        self.states: dict[tuple[int, int], State | None] = {}

    @torch.inference_mode()
    def __call__(self, frame: torch.Tensor) -> torch.Tensor:
        """Embed one frame (H, W); return unit embeddings (D, H, W) of the last stack."""
        pieces = []
        for i, row in enumerate(self.rows):
            line = []
            for j, col in enumerate(self.cols):
                window = frame[row.start : row.stop, col.start : col.stop][
                    None, None
                ]  # (1, 1, h, w)
                window = window.contiguous(memory_format=torch.channels_last)
                outputs, self.states[i, j] = self.network.step(window, self.states.get((i, j)))
                unit = F.normalize(outputs[-1][0], dim=0)  # (D, h, w)
                line.append(
                    unit[
                        :,
                        row.keep_start - row.start : row.keep_stop - row.start,
                        col.keep_start - col.start : col.keep_stop - col.start,
                    ]
                )
            pieces.append(torch.cat(line, dim=2))  # (D, kept h, W)
        return torch.cat(pieces, dim=1)  # (D, H, W)


@dataclass(frozen=True)
class Window:
    """A run of the network from zero memory over frames first..last that embeds some pairs."""

    first: int
    pairs: range  # pair t is frames (t, t + 1); all lie within first..pairs.stop

    @property
    def last(self) -> int:
        """The last frame the run needs."""
        return self.pairs.stop


def windows(frames: int, window: int) -> list[Window]:
    """Cover the pairs of a sequence with runs of `window` frames (0: one run over everything).

    The first run embeds all its pairs; every later run starts from zero memory, as training clips
    do, and embeds only its last `window // 2` pairs, so each pair has at least (window - 1) // 2
    frames of context and the network never runs longer than it was trained to.
    """
    pairs = frames - 1
    if window == 0 or window >= frames:
        return [Window(0, range(pairs))]
    runs = [Window(0, range(window - 1))]
    stride = max(1, window // 2)
    while runs[-1].pairs.stop < pairs:
        first_pair = runs[-1].pairs.stop
        stop = min(first_pair + stride, pairs)
        runs.append(Window(stop - window + 1, range(first_pair, stop)))
    return runs


def training_clip(model: TrainedModel) -> int:
    """The clip length the model was trained on (its recurrent horizon)."""
    return int(model.record.get("train_config", {}).get("clip_frames", 0))


def embed_pairs(
    image: zarr.Array | np.ndarray,
    stream_for: Callable[[], TiledStream],
    runs: list[Window],
    device: torch.device,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (t, unit embeddings of frames t and t+1 (2, D, H, W)) for every pair, in order."""
    for run in runs:
        stream, previous = stream_for(), None
        for t in range(run.first, run.last + 1):
            frame = torch.from_numpy(np.asarray(image[t])).to(device)  # (H, W)
            current = stream(frame).to(torch.float16).cpu().numpy()  # (D, H, W)
            if t - 1 in run.pairs:
                yield t - 1, np.stack([previous, current])  # (2, D, H, W)
            previous = current


@dataclass(frozen=True)
class Embedder:
    """A model folder's network on its device, ready to embed sequences under `infer` settings."""

    model: TrainedModel
    network: StackedHourglass  # the model's network in channels-last layout
    device: torch.device
    cfg: InferConfig

    @classmethod
    def load(cls, model_dir: Path, cfg: InferConfig, threads: int = 1) -> Embedder:
        """Load a model folder onto the device `cfg` chooses, with `threads` CPU threads."""
        torch.set_num_threads(usable_threads(threads))
        device = choose_device(cfg.device)
        model = TrainedModel.from_folder(model_dir, device)
        network = model.network.to(memory_format=torch.channels_last)
        return cls(model, network, device, cfg)

    @property
    def window(self) -> int:
        """Frames of each run from zero memory: `infer.window`, else the training clip length."""
        return training_clip(self.model) if self.cfg.window is None else self.cfg.window

    def pairs(self, image: zarr.Array | np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (t, unit embeddings (2, D, H, W) float16 of frames t, t+1) of frames (T, H, W)."""
        _, height, width = image.shape
        runs = windows(image.shape[0], self.window)
        return embed_pairs(
            image, lambda: TiledStream(self.network, (height, width), self.cfg), runs, self.device
        )


def run_infer(prep: Path, model_dir: Path, out: Path, cfg: InferConfig, threads: int = 1) -> None:
    """Embed every frame pair of a preprocessed sequence into `out` (T-1, 2, D, H, W) float16."""
    embedder = Embedder.load(model_dir, cfg, threads)
    model, network, device = embedder.model, embedder.network, embedder.device
    source = open_store(prep, "preprocessed")
    image = source["image"]
    frames, height, width = image.shape
    if frames < 2:
        raise ValueError(f"{prep}: {frames} frame(s); tracking needs at least 2")
    window = embedder.window
    runs = windows(frames, window)
    layout = TiledStream(network, (height, width), cfg)
    logger.info(
        "embedding %s: %d frames of %dx%d on %s in %dx%d tiles, %d runs of up to %d frames",
        prep,
        frames,
        height,
        width,
        device,
        len(layout.rows),
        len(layout.cols),
        len(runs),
        max(run.last - run.first + 1 for run in runs),
    )
    with atomic_path(out) as partial:
        group = zarr.open_group(partial, mode="w")
        shape = (frames - 1, 2, model.embedding_dim, height, width)
        embedding = frame_array(group, "embedding", shape, "float16")
        pairs = embedder.pairs(image)
        for t, pair in tqdm(
            pairs, total=frames - 1, desc=f"infer {Path(prep).stem}", mininterval=10
        ):
            embedding[t] = pair
        group.attrs.update(
            {
                "sequence": source.attrs.get("sequence", Path(prep).stem),
                "frames": frames,
                "height": height,
                "width": width,
                "window": window,
                "background_direction": model.background_direction,
                "model": str(Path(model_dir).resolve()),
                "model_provenance": model.record.get("provenance", {}),
                "infer": cfg.model_dump(),
                "provenance": provenance(),
            }
        )
