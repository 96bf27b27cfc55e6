"""Lineage bookkeeping while frames are simulated: CTC tracks, their parents, and contacts."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from cosinetrack.formats import ctc


class Tracked(Protocol):
    """Simulated cells of either kind, as the track book sees them: parallel (N,) int64 arrays."""

    track: np.ndarray  # track id while visible, else 0
    parent: np.ndarray  # mother's track id for daughters not yet rendered, else 0
    pixels: np.ndarray  # pixels shown in the last rendered frame


class TrackBook:
    """Track table kept while frames are simulated: a track is a run of frames showing a cell."""

    def __init__(self) -> None:
        """Start with no tracks."""
        self.rows: dict[int, list[int]] = {}  # label -> [begin, end, parent]
        self.next_label = 1

    def update(self, nuc: Tracked, counts: np.ndarray, t: int, min_size: int) -> np.ndarray:
        """Record frame t; return the map from owner index (+1) to track id (0: not labelled)."""
        shown = counts >= min_size
        nuc.pixels = counts.astype(np.int64)
        nuc.track[~shown] = 0  # their tracks ended with the previous frame
        starting = np.flatnonzero(shown & (nuc.track == 0))
        # A daughter keeps its mother only if its sister shows too: divisions have two daughters.
        parents, sisters = np.unique(nuc.parent[shown], return_counts=True)
        complete = set(parents[(sisters == 2) & (parents > 0)].tolist())
        for i in starting:
            parent = int(nuc.parent[i]) if int(nuc.parent[i]) in complete else 0
            nuc.track[i] = self.next_label
            self.rows[self.next_label] = [t, t, parent]
            self.next_label += 1
        for label in nuc.track[shown].tolist():
            self.rows[label][1] = t
        nuc.parent[:] = 0
        if self.next_label > ctc.UINT16_MAX:
            raise ValueError("more than 65535 tracks; simulate fewer frames or cells")
        return np.concatenate([[0], np.where(shown, nuc.track, 0)]).astype(np.uint16)

    def table(self) -> np.ndarray:
        """Return the (N, 4) track table L B E P, sorted by label."""
        rows = [[label, *row] for label, row in sorted(self.rows.items())]
        return np.array(rows, dtype=np.int64).reshape(-1, 4)


def touching_fraction(labels: np.ndarray) -> float:
    """Return the fraction of labelled nuclei that are 4-adjacent to another nucleus (0 if none)."""
    present = np.unique(labels)
    present = present[present > 0]
    if not present.size:
        return 0.0
    touching = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        contact = (a != b) & (a > 0) & (b > 0)
        touching += [a[contact], b[contact]]
    return np.unique(np.concatenate(touching)).size / present.size
