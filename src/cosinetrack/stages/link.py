"""Linking: instances matched by IoU on a shared frame become tracks; overlaps give lineages.

Pair t holds a clustering of frames (t, t+1). Its frame-t labels are matched to the tracks already
in frame t (greedy IoU, largest first, down to a threshold); matched instances carry their track id
into frame t+1, the rest start new tracks. A track that starts at t > 0 and is still seen at t+1
takes as mother the track whose last mask (in the `parent_frames` frames before t) its dilated
masks of frames t and t+1 overlap most. A mother still alive at t is cut: her continuation becomes
a second daughter, so she ends where her daughters begin (CTC rule); a mother that ended before t
needs two daughters, as a single track starting where one ended is a cell back in view.
Divisions whose daughter lasts only a frame or two are undone afterwards (`divisions`).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import zarr
from scipy import ndimage
from skimage.morphology import disk
from tqdm import tqdm

from cosinetrack.algorithms.divisions import undo_short_divisions
from cosinetrack.algorithms.resample import follow_foreground, resize_labels
from cosinetrack.config.sections import LinkConfig
from cosinetrack.formats import ctc
from cosinetrack.formats.atomic import scratch_folder
from cosinetrack.formats.store import frame_array, open_store

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


@dataclass
class Tracker:
    """Builds tracks frame by frame; keeps only the last `parent_frames` + 2 frames in memory.

    Parents are searched one frame late: a track that starts at t is given its mother once frame
    t + 1 is tracked, so that a division is judged on the daughters' first two frames and a track
    seen for a single frame (a fragment of a cell) is never a daughter. `advance` therefore
    returns the frame before the one it tracks, and `finish` the last one.
    """

    cfg: LinkConfig
    first: dict[int, int] = field(default_factory=dict)
    last: dict[int, int] = field(default_factory=dict)
    parent: dict[int, int] = field(default_factory=dict)
    recent: deque[np.ndarray] = field(default_factory=deque)  # last parent_frames + 1 frames
    sizes: deque[np.ndarray] = field(default_factory=deque)  # pixels per track in each recent frame
    born: list[int] = field(default_factory=list)  # newest frame's new tracks, not yet searched
    edge: set[int] = field(default_factory=set)  # tracks seen on the frame border
    frame: int = -1

    def new_track(self, t: int, parent: int = 0) -> int:
        """Open a track starting at frame t."""
        track = len(self.first) + 1
        self.first[track], self.last[track], self.parent[track] = t, t, parent
        return track

    def at(self, t: int) -> np.ndarray:
        """The tracked frame t, which must still be one of the recent frames."""
        return self.recent[t - self.frame - 1]

    def advance(self, match_labels: np.ndarray, labels: np.ndarray) -> np.ndarray | None:
        """Track the next frame: `labels` (H, W), matched through `match_labels` to the last frame.

        `match_labels` uses the numbering of `labels` and is compared by IoU with the last tracked
        frame (for pairs it is the shared frame's clustering). Returns the frame before, whose
        track ids are now final (None for the first frame).
        """
        self.frame += 1
        t = self.frame
        previous = self.recent[-1] if self.recent else np.zeros_like(labels, dtype=np.int64)
        mapping = greedy_matches(previous, match_labels, self.cfg.iou_threshold)
        ids = np.unique(labels)
        new = [int(i) for i in ids[ids > 0] if int(i) not in mapping]
        for label in new:
            mapping[label] = self.new_track(t)
        tracked = ctc.relabel(labels, mapping, np.int64)
        present = np.unique(tracked)
        for track in present[present > 0]:
            self.last[int(track)] = t
        border = np.concatenate([tracked[0], tracked[-1], tracked[:, 0], tracked[:, -1]])
        self.edge.update(np.unique(border[border > 0]).tolist())
        self.recent.append(tracked)
        self.sizes.append(np.bincount(tracked.ravel()))
        self.find_parents(t - 1)
        self.born = [mapping[label] for label in new]
        while len(self.recent) > self.cfg.parent_frames + 1:
            self.recent.popleft()
            self.sizes.popleft()
        return self.recent[-2] if len(self.recent) > 1 else None

    def finish(self) -> np.ndarray | None:
        """Search the parents of the tracks starting in the last frame; return that frame."""
        if not self.recent:
            return None
        self.find_parents(self.frame)
        self.born = []
        return self.recent[-1]

    def find_parents(self, t: int) -> None:
        """Give the tracks starting at t their mother; a division needs two daughters.

        Each track seen in its first two frames (or starting in the last frame) takes the mother
        it overlaps most (`mother_of`). A mother still alive at t is cut: her continuation becomes
        a second daughter, so she ends where her daughters begin. A mother that ended before t
        needs two daughters; a single track starting where one ended is a cell that came back
        into view, not a division, and keeps no parent.
        """
        if t <= 0:
            return
        daughters: dict[int, list[int]] = {}
        for child in self.born:
            if t < self.frame and self.last[child] == t:
                continue  # seen for one frame only: no daughter
            mother = self.mother_of(child, t)
            if mother:
                daughters.setdefault(mother, []).append(child)
        for mother, children in daughters.items():
            if self.last[mother] >= t:
                self.cut(mother, t)
            elif len(children) < 2:
                continue
            for child in children:
                self.parent[child] = mother

    def cut(self, mother: int, t: int) -> None:
        """End a mother alive at t at t - 1; her continuation becomes a daughter from t on."""
        sister = self.new_track(t, parent=mother)
        self.last[sister], self.last[mother] = self.last[mother], t - 1
        for s in range(t, self.frame + 1):
            frame = self.at(s)
            frame[frame == mother] = sister
            self.sizes[s - self.frame - 1] = np.bincount(frame.ravel())

    def mother_of(self, child: int, t: int) -> int:
        """The track whose last mask before t best overlaps the child's dilated first masks.

        The child's masks in its first two frames are each dilated by `parent_dilation` and
        compared by IoU with the last mask of every track seen in the `parent_frames` frames before
        t; the best IoU above `parent_iou` wins (0: no mother).
        """
        radius = self.cfg.parent_dilation
        best, best_iou = 0, self.cfg.parent_iou
        searched = range(max(t - self.cfg.parent_frames, 0), t)
        for own in range(t, min(t + 1, self.frame) + 1):
            found = ndimage.find_objects((self.at(own) == child).astype(np.int8))
            if not found:
                continue
            box = grown_box(found[0], radius)
            mask = self.at(own)[box] == child  # the child and its dilation lie inside the box
            if radius > 0:
                mask = ndimage.binary_dilation(mask, structure=disk(radius))
            area = int(mask.sum())
            for s in searched:
                candidates, shared = np.unique(self.at(s)[box][mask], return_counts=True)
                sizes = self.sizes[s - self.frame - 1]
                for candidate, overlap in zip(candidates.tolist(), shared.tolist(), strict=True):
                    if not candidate or min(self.last[candidate], t - 1) != s:
                        continue  # background, or not the candidate's last mask before t
                    iou = overlap / (int(sizes[candidate]) + area - overlap)
                    if iou > best_iou:
                        best, best_iou = candidate, iou
        return best

    def cut_short(self) -> set[int]:
        """Tracks whose length the recording cut: seen in the first or last frame, or at the border.

        A cell seen for one frame as it passes the edge of the view, or as the recording starts
        or ends, is a whole cell, not a fragment to remove.
        """
        ends = {k for k in self.first if self.first[k] == 0 or self.last[k] == self.frame}
        return ends | self.edge

    def table(self) -> np.ndarray:
        """The tracks found so far as rows L B E P."""
        return np.array(
            [[k, self.first[k], self.last[k], self.parent[k]] for k in self.first], dtype=np.int64
        ).reshape(-1, 4)


def grown_box(box: tuple[slice, ...], margin: int) -> tuple[slice, ...]:
    """A bounding box grown by `margin` pixels on every side (clipped at 0; numpy clips the end)."""
    return tuple(slice(max(b.start - margin, 0), b.stop + margin) for b in box)


def drop_short_tracks(
    tracks: np.ndarray, min_length: int, cut_short: Collection[int] = ()
) -> np.ndarray:
    """Remove tracks without parent and without daughters that are shorter than `min_length`.

    Tracks in `cut_short` are kept whatever their length: the recording cut them (see
    `Tracker.cut_short`), so their length says nothing about being a fragment of a cell.
    """
    length = tracks[:, 2] - tracks[:, 1] + 1
    has_children = np.isin(tracks[:, 0], tracks[:, 3])
    keep = (length >= min_length) | (tracks[:, 3] > 0) | has_children
    keep |= np.isin(tracks[:, 0], list(cut_short))
    return tracks[keep]


def link_frames(
    pairs: Iterable[tuple[np.ndarray, np.ndarray]],
    cfg: LinkConfig,
    scratch: zarr.Array | np.ndarray,
) -> np.ndarray:
    """Track a stream of (match labels, labels) into `scratch` (T, H, W); return the table."""
    tracker = Tracker(cfg)
    done = 0
    for match_labels, labels in pairs:
        frame = tracker.advance(match_labels, labels)
        if frame is not None:
            scratch[done], done = frame, done + 1
    frame = tracker.finish()
    if frame is not None:
        scratch[done] = frame
    cut_short = tracker.cut_short()
    tracks = undo_short_divisions(tracker.table(), scratch, cfg.min_daughter_length, cut_short)
    return drop_short_tracks(tracks, cfg.min_track_length, cut_short)


def pair_stream(pairs: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Frames to track from pair labels (2, H, W) in order: frame 0 from pair 0, t+1 from pair t."""
    for t, pair in enumerate(pairs):
        pair = np.asarray(pair)  # (2, H, W)
        if t == 0:
            yield pair[0], pair[0]
        yield pair[0], pair[1]


def frame_cosines(cosine: zarr.Array | np.ndarray) -> Iterator[np.ndarray]:
    """Each frame's cosine to the background from pair cosines (P, 2, H, W), as `pair_stream`."""
    yield np.asarray(cosine[0, 0])
    for t in range(cosine.shape[0]):
        yield np.asarray(cosine[t, 1])


@dataclass(frozen=True)
class Outlines:
    """What enlarged masks take their outlines from: each frame's cosine to the background."""

    cosines: Iterable[np.ndarray]  # (H, W) per frame at the working size, in frame order
    threshold: float  # the clustering's foreground test: cosine at most this


def followed(outlines: Outlines | None, cfg: LinkConfig) -> Outlines | None:
    """The outlines enlarged masks follow under `cfg` (None: they are resized alone)."""
    if outlines is None or cfg.outlines != "embedding":
        return None
    if cfg.outline_threshold is None:
        return outlines
    return Outlines(outlines.cosines, cfg.outline_threshold)


def kept_frames(
    scratch: zarr.Array | np.ndarray,
    tracks: np.ndarray,
    shape: tuple[int, int],
    outlines: Outlines | None = None,
) -> Iterator[np.ndarray]:
    """Stream tracked frames at the original `shape`, with removed tracks set to background."""
    keep = {int(k): int(k) for k in tracks[:, 0]}
    cosines = iter(outlines.cosines) if outlines else None
    for t in range(scratch.shape[0]):
        frame = resize_labels(ctc.relabel(np.asarray(scratch[t]), keep, np.int64), shape)
        if outlines is not None and cosines is not None:
            frame = follow_foreground(frame, next(cosines), outlines.threshold)
        yield frame


def write_tracks(
    frames: Iterable[tuple[np.ndarray, np.ndarray]],
    res_dir: Path,
    shape: tuple[int, int, int],
    cfg: LinkConfig,
    original: tuple[int, int] | None = None,
    outlines: Outlines | None = None,
) -> np.ndarray:
    """Link a frame stream and write the CTC result (masks resized to `original`, if given).

    With `outlines` (and `cfg.outlines` "embedding"), enlarged masks follow the interpolated
    cosine to the background instead of their own working-size outlines.
    """
    res_dir = Path(res_dir)
    res_dir.parent.mkdir(parents=True, exist_ok=True)
    with scratch_folder(res_dir.with_name(f".{res_dir.name}.scratch")) as scratch_dir:
        scratch = frame_array(zarr.open_group(scratch_dir, mode="w"), "tracks", shape, "uint32")
        tracks, masks = linked(frames, scratch, cfg, original or shape[1:], outlines)
        ctc.write_result(res_dir, masks, tracks, shape[0])
    return tracks


def linked(
    frames: Iterable[tuple[np.ndarray, np.ndarray]],
    scratch: zarr.Array | np.ndarray,
    cfg: LinkConfig,
    original: tuple[int, int],
    outlines: Outlines | None = None,
) -> tuple[np.ndarray, Iterator[np.ndarray]]:
    """Link a frame stream into `scratch` (T, H, W) uint32: the table, and the kept frames.

    The frames (at the `original` size, outlines followed as `write_tracks` says) are streamed
    from `scratch`, so it must outlive them: a Zarr array in a scratch folder, or a numpy array.
    """
    tracks = link_frames(frames, cfg, scratch)
    return tracks, kept_frames(scratch, tracks, original, followed(outlines, cfg))


def pair_outlines(group: zarr.Group, path: Path) -> Outlines:
    """The outlines a pair-labels store carries: its cosines and the clustering's threshold."""
    if "background_cosine" not in group:
        raise ValueError(
            f"{path}: no `background_cosine` array for link.outlines 'embedding'; rerun the "
            f"`cluster` rule, or set link.outlines: labels"
        )
    threshold = float(group.attrs["cluster"]["background_threshold"])
    return Outlines(frame_cosines(group["background_cosine"]), threshold)


def run_link(pairs: Path, prep: Path, res_dir: Path, cfg: LinkConfig) -> None:
    """Link the pair clusterings of a sequence into a checked CTC result folder."""
    group = open_store(pairs, "pair labels")
    labels = group["labels"]
    source = open_store(prep, "preprocessed")
    frames, height, width = source["image"].shape
    if labels.shape != (frames - 1, 2, height, width):
        raise ValueError(
            f"{pairs}: pair labels of shape {labels.shape} do not match the {frames} frames of "
            f"{height}x{width} in {prep}; rerun `infer` and `cluster` for this sequence"
        )
    pairs = (labels[t] for t in range(labels.shape[0]))
    stream = tqdm(pair_stream(pairs), total=frames, desc=f"link {Path(prep).stem}", mininterval=10)
    original = tuple(source.attrs.get("original_shape", (height, width)))
    outlines = pair_outlines(group, pairs) if cfg.outlines == "embedding" else None
    tracks = write_tracks(stream, res_dir, (frames, height, width), cfg, original, outlines)
    ctc.check_result(res_dir, frames)
    divisions = int((tracks[:, 3] > 0).sum())
    logger.info("%s: %d tracks, %d with a parent", res_dir, len(tracks), divisions)
