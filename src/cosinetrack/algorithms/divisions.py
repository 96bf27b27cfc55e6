"""Repair of the lineage after linking: divisions whose daughter lasts only a few frames undone.

When the clustering splits a piece off a cell for a few frames (a large nucleus cut in two), the
linker sees a new track next to the cell, and the parent search makes it a daughter: a false
division, a false detection in each frame, and where the cell was cut near its middle, a cell that
no mask covers by half. A true daughter lives on. So a division one of whose daughters ends within
`min_daughter_length` frames (without dividing itself, and not where the recording or the border
cut it short) is undone: the short daughter joins the sister it touches in every frame of its life
(or, touching none, stays a track of its own without parent), and the mother continues as the
sister once no second daughter remains.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
import zarr
from scipy import ndimage

# Pixels sharing an edge or a corner touch, as in a frame pair's connectivity within one frame.
TOUCH = ndimage.generate_binary_structure(2, 2)


def daughters_of(tracks: np.ndarray) -> dict[int, list[int]]:
    """Each mother's daughters, from a track table of rows L B E P."""
    children: dict[int, list[int]] = {}
    for label, _, _, parent in tracks.tolist():
        if parent:
            children.setdefault(parent, []).append(label)
    return children


def touching_sister(frames: zarr.Array, piece: int, sisters: list[int], span: range) -> int:
    """The sister whose mask touches the piece's in every frame of `span` most (0: none does)."""
    contact = dict.fromkeys(sisters, 0)
    for t in span:
        frame = np.asarray(frames[t])
        ring = ndimage.binary_dilation(frame == piece, TOUCH) & (frame != piece)
        near = np.bincount(frame[ring].ravel().astype(np.int64), minlength=max(sisters) + 1)
        for sister in list(contact):
            if near[sister] == 0:
                del contact[sister]  # not touching in this frame: it cannot take the piece
            else:
                contact[sister] += int(near[sister])
    return max(contact, key=lambda s: contact[s]) if contact else 0


@dataclass
class Moves:
    """Relabellings of track frames, recorded in order and applied in one pass over the frames."""

    steps: list[tuple[int, int, range]] = field(default_factory=list)  # (old, new, frames)

    def add(self, old: int, new: int, span: range) -> None:
        """Record that track `old` becomes `new` in the frames of `span`."""
        self.steps.append((old, new, span))

    def apply(self, frames: zarr.Array) -> None:
        """Rewrite every frame that a recorded step touches, reading and writing it once."""
        for t in sorted({t for _, _, span in self.steps for t in span}):
            frame = np.asarray(frames[t])
            lookup = np.arange(int(frame.max(initial=0)) + 1, dtype=frame.dtype)
            for old, new, span in self.steps:
                if t in span:
                    lookup[lookup == old] = new  # composed in order: a piece's sister may move on
            frames[t] = lookup[frame]


def undo_short_divisions(
    tracks: np.ndarray, frames: zarr.Array, min_length: int, cut_short: Collection[int] = ()
) -> np.ndarray:
    """Undo divisions with a daughter shorter than `min_length` frames; return the new table.

    `frames` (T, H, W) holds the track ids and is rewritten where pieces join their sisters and
    mothers continue. Tracks in `cut_short` (seen at the border or the last frame) are never short.
    """
    rows = {int(k): [int(b), int(e), int(p)] for k, b, e, p in tracks.tolist()}
    children, moves = daughters_of(tracks), Moves()
    for mother in sorted(children, key=lambda m: rows[m][1]):  # earliest divisions first
        while mother in children and drop_pieces(
            rows, children, frames, moves, mother, min_length, cut_short
        ):
            continue_mother(rows, children, moves, mother)
    moves.apply(frames)
    return np.array(
        [[k, b, e, p] for k, (b, e, p) in sorted(rows.items())], dtype=np.int64
    ).reshape(-1, 4)


def drop_pieces(
    rows: dict[int, list[int]],
    children: dict[int, list[int]],
    frames: zarr.Array,
    moves: Moves,
    mother: int,
    min_length: int,
    cut_short: Collection[int],
) -> bool:
    """Take a mother's short daughters from her; return whether a single daughter remains."""
    kids = children[mother]
    for piece in sorted(kids, key=lambda k: rows[k][1] - rows[k][0]):
        first, last, _ = rows[piece]
        short = last - first + 1 < min_length and piece not in children
        if not short or piece in cut_short or len(kids) < 2:
            continue
        kids.remove(piece)
        sister = touching_sister(frames, piece, kids, range(first, last + 1))
        if sister:
            moves.add(piece, sister, range(first, last + 1))
            del rows[piece]
        else:
            rows[piece][2] = 0
    return len(kids) == 1


def continue_mother(
    rows: dict[int, list[int]], children: dict[int, list[int]], moves: Moves, mother: int
) -> None:
    """Make a mother's only daughter her continuation: one track, the daughter's children hers.

    A daughter that starts after a gap (the mother last seen two frames before) keeps a track of
    her own, without parent: a CTC track has a mask in every frame from its start to its end.
    """
    daughter = children.pop(mother)[0]
    first, last, _ = rows[daughter]
    if rows[mother][1] != first - 1:
        rows[daughter][2] = 0
        return
    del rows[daughter]
    moves.add(daughter, mother, range(first, last + 1))
    rows[mother][1] = last
    grandchildren = children.pop(daughter, [])
    for child in grandchildren:
        rows[child][2] = mother
    if grandchildren:
        children[mother] = grandchildren
