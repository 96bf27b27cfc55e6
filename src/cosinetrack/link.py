"""Linking: instances matched by IoU on a shared frame become tracks; overlaps give lineages.

Pair t holds a clustering of frames (t, t+1). Its frame-t labels are matched to the tracks already
in frame t (greedy IoU, largest first, down to a threshold); matched instances carry their track id
into frame t+1, the rest start new tracks. A track that starts at t > 0 whose first mask, dilated,
overlaps a track of the previous frames becomes its daughter, and a mother still alive is cut: its
continuation becomes a second daughter, so the mother ends where its daughters begin (CTC rule).
"""

from __future__ import annotations

import logging
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import zarr
from scipy import ndimage
from skimage.morphology import disk
from tqdm import tqdm

from cosinetrack import ctc
from cosinetrack.config import LinkConfig
from cosinetrack.resample import resize_labels
from cosinetrack.store import frame_array, open_store

logger = logging.getLogger(__name__)


def iou_table(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IoU of every overlapping pair of labels in two label images: (labels of a, of b, IoU)."""
    a, b = a.ravel().astype(np.int64), b.ravel().astype(np.int64)
    size_a = np.bincount(a, minlength=int(a.max(initial=0)) + 1)
    size_b = np.bincount(b, minlength=int(b.max(initial=0)) + 1)
    label_a, label_b, intersection = overlaps(a, b, len(size_b))
    union = size_a[label_a] + size_b[label_b] - intersection
    return label_a, label_b, intersection / union


def overlaps(a: np.ndarray, b: np.ndarray, count_b: int) -> tuple[np.ndarray, ...]:
    """Pixels shared by each overlapping pair of labels of flat label arrays a and b (b < count_b).

    Pairs are counted as one integer key a * count_b + b: a flat unique is far faster than a
    unique over the rows of a (2, N) array.
    """
    both = (a > 0) & (b > 0)
    keys, intersection = np.unique(a[both] * count_b + b[both], return_counts=True)
    return keys // count_b, keys % count_b, intersection


def greedy_matches(reference: np.ndarray, labels: np.ndarray, threshold: float) -> dict[int, int]:
    """Match labels to reference labels one-to-one by IoU, largest first, down to `threshold`."""
    ref, lab, iou = iou_table(reference, labels)
    matches: dict[int, int] = {}
    taken: set[int] = set()
    for k in np.argsort(-iou, kind="stable"):
        if iou[k] < threshold:
            break
        if lab[k] not in matches and ref[k] not in taken:
            matches[int(lab[k])] = int(ref[k])
            taken.add(int(ref[k]))
    return matches


def relabel(labels: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    """Apply a label mapping (int64 result); labels not in it become 0."""
    lookup = np.zeros(int(labels.max(initial=0)) + 1, dtype=np.int64)
    for old, new in mapping.items():
        if old < len(lookup):
            lookup[old] = new
    return lookup[labels]


@dataclass
class Tracker:
    """Builds tracks frame by frame; keeps only the last `parent_frames` frames in memory."""

    cfg: LinkConfig
    first: dict[int, int] = field(default_factory=dict)
    last: dict[int, int] = field(default_factory=dict)
    parent: dict[int, int] = field(default_factory=dict)
    window: deque[np.ndarray] = field(default_factory=deque)
    sizes: deque[np.ndarray] = field(default_factory=deque)  # pixels per track in each window frame
    frame: int = -1

    def new_track(self, t: int, parent: int = 0) -> int:
        """Open a track starting at frame t."""
        track = len(self.first) + 1
        self.first[track], self.last[track], self.parent[track] = t, t, parent
        return track

    def advance(self, match_labels: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Track the next frame: `labels` (H, W), matched through `match_labels` to the last frame.

        `match_labels` uses the numbering of `labels` and is compared by IoU with the last tracked
        frame (for pairs it is the shared frame's clustering). Returns the frame's track ids.
        """
        self.frame += 1
        t = self.frame
        previous = self.window[-1] if self.window else np.zeros_like(labels, dtype=np.int64)
        mapping = greedy_matches(previous, match_labels, self.cfg.iou_threshold)
        ids = np.unique(labels)
        new = [int(i) for i in ids[ids > 0] if int(i) not in mapping]
        for label in new:
            mapping[label] = self.new_track(t)
        tracked = relabel(labels, mapping)
        present = np.unique(tracked)
        for track in present[present > 0]:
            self.last[int(track)] = t
        if t > 0:
            for label in new:
                self.find_parent(tracked, mapping[label], t)
        self.window.append(tracked)
        self.sizes.append(np.bincount(tracked.ravel()))
        while len(self.window) > self.cfg.parent_frames:
            self.window.popleft()
            self.sizes.popleft()
        return tracked

    def find_parent(self, tracked: np.ndarray, child: int, t: int) -> None:
        """Give a new track the parent its dilated first mask overlaps most; cut a living mother."""
        radius = self.cfg.parent_dilation
        box = grown_box(ndimage.find_objects((tracked == child).astype(np.int8))[0], radius)
        mask = tracked[box] == child  # the child and its dilation lie inside the grown box
        if radius > 0:
            mask = ndimage.binary_dilation(mask, structure=disk(radius))
        area, best, best_iou = int(mask.sum()), 0, self.cfg.parent_iou
        for frame, sizes in zip(self.window, self.sizes, strict=True):
            candidates, shared = np.unique(frame[box][mask], return_counts=True)
            iou = shared / (sizes[candidates] + area - shared)
            for candidate, value in zip(candidates, iou, strict=True):
                if candidate and candidate != child and value > best_iou:
                    best, best_iou = int(candidate), float(value)
        if not best:
            return
        if self.last[best] >= t:
            # The mother lives on in this frame: her continuation becomes a second daughter.
            sister = self.new_track(t, parent=best)
            tracked[tracked == best] = sister
            self.last[best] = t - 1
        self.parent[child] = best

    def table(self) -> np.ndarray:
        """The tracks found so far as rows L B E P."""
        return np.array(
            [[k, self.first[k], self.last[k], self.parent[k]] for k in self.first], dtype=np.int64
        ).reshape(-1, 4)


def grown_box(box: tuple[slice, ...], margin: int) -> tuple[slice, ...]:
    """A bounding box grown by `margin` pixels on every side (clipped at 0; numpy clips the end)."""
    return tuple(slice(max(b.start - margin, 0), b.stop + margin) for b in box)


def drop_short_tracks(tracks: np.ndarray, min_length: int) -> np.ndarray:
    """Remove tracks without parent and without daughters that are shorter than `min_length`."""
    length = tracks[:, 2] - tracks[:, 1] + 1
    has_children = np.isin(tracks[:, 0], tracks[:, 3])
    keep = (length >= min_length) | (tracks[:, 3] > 0) | has_children
    return tracks[keep]


def link_frames(
    pairs: Iterable[tuple[np.ndarray, np.ndarray]], cfg: LinkConfig, scratch: zarr.Array
) -> np.ndarray:
    """Track a stream of (match labels, labels) into `scratch` (T, H, W); return the table."""
    tracker = Tracker(cfg)
    for t, (match_labels, labels) in enumerate(pairs):
        scratch[t] = tracker.advance(match_labels, labels)
    return drop_short_tracks(tracker.table(), cfg.min_track_length)


def pair_stream(labels: zarr.Array) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Frames to track from pair labels (P, 2, H, W): frame 0 from pair 0, frame t+1 from pair t."""
    first = np.asarray(labels[0, 0])
    yield first, first
    for t in range(labels.shape[0]):
        pair = np.asarray(labels[t])  # (2, H, W)
        yield pair[0], pair[1]


def kept_frames(
    scratch: zarr.Array, tracks: np.ndarray, shape: tuple[int, int]
) -> Iterator[np.ndarray]:
    """Stream tracked frames at the original `shape`, with removed tracks set to background."""
    keep = {int(k): int(k) for k in tracks[:, 0]}
    for t in range(scratch.shape[0]):
        yield resize_labels(relabel(np.asarray(scratch[t]), keep), shape)


def write_tracks(
    frames: Iterable[tuple[np.ndarray, np.ndarray]],
    res_dir: Path,
    shape: tuple[int, int, int],
    cfg: LinkConfig,
    original: tuple[int, int] | None = None,
) -> np.ndarray:
    """Link a frame stream and write the CTC result (masks resized to `original`, if given)."""
    res_dir = Path(res_dir)
    res_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=res_dir.parent, prefix=f".{res_dir.name}.") as scratch_dir:
        scratch = frame_array(zarr.open_group(scratch_dir, mode="w"), "tracks", shape, "uint32")
        tracks = link_frames(frames, cfg, scratch)
        masks = kept_frames(scratch, tracks, original or shape[1:])
        ctc.write_result(res_dir, masks, tracks, shape[0])
    return tracks


def run_link(pairs: Path, prep: Path, res_dir: Path, cfg: LinkConfig) -> None:
    """Link the pair clusterings of a sequence into a checked CTC result folder."""
    labels = open_store(pairs, "pair labels")["labels"]
    source = open_store(prep, "preprocessed")
    frames, height, width = source["image"].shape
    if labels.shape != (frames - 1, 2, height, width):
        raise ValueError(
            f"{pairs}: pair labels of shape {labels.shape} do not match the {frames} frames of "
            f"{height}x{width} in {prep}; rerun `infer` and `cluster` for this sequence"
        )
    stream = tqdm(pair_stream(labels), total=frames, desc=f"link {Path(prep).stem}", mininterval=10)
    original = tuple(source.attrs.get("original_shape", (height, width)))
    tracks = write_tracks(stream, res_dir, (frames, height, width), cfg, original)
    ctc.check_result(res_dir, frames)
    divisions = int((tracks[:, 3] > 0).sum())
    logger.info("%s: %d tracks, %d with a parent", res_dir, len(tracks), divisions)
