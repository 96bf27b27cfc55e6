"""Tracks read from label masks whose labels persist from frame to frame (a label is one cell).

Used for silver-truth segmentations that come without a track table
(`cosinetrack.formats.public_data`). That the labels are cell identities is checked: a label in two
consecutive frames must overlap itself. Each label's run of consecutive frames becomes a track; a
track that begins after frame 0 takes as parent the track ending in the frame before that its first
mask overlaps most, if any (a division), and a parent with exactly one such daughter is the same
cell relabelled, so the two are joined into one track. A label that reappears after a gap continues
as a new track whose parent is its earlier run (the CTC convention for gaps).
"""

from __future__ import annotations

import numpy as np


def label_runs(masks: np.ndarray) -> list[list[int]]:
    """Split each label's frames into runs of consecutive frames, `[label, begin, end]` each.

    A label present in two consecutive frames must overlap itself there; otherwise the labels are
    not cell identities and tracks cannot be read from them.
    """
    runs: list[list[int]] = []
    latest: dict[int, int] = {}  # label -> index of its latest run
    for t, frame in enumerate(masks):
        kept = set(np.unique(frame[(frame == masks[t - 1]) & (frame > 0)]).tolist()) if t else set()
        for label in np.unique(frame[frame > 0]).tolist():
            index = latest.get(label)
            if index is not None and runs[index][2] == t - 1:
                if label not in kept:
                    raise ValueError(
                        f"label {label} in frames {t - 1} and {t} does not overlap itself; "
                        f"these masks' labels are not track ids"
                    )
                runs[index][2] = t
            else:
                latest[label] = len(runs)
                runs.append([label, t, t])
    return runs


def run_parents(masks: np.ndarray, runs: list[list[int]]) -> list[int]:
    """Parent run of every run (-1 for none).

    A label's earlier run is the parent of its later one (a gap); otherwise the parent is the run
    ending in the frame before this one begins that this run's first mask overlaps most, if any.
    """
    parents: list[int] = []
    for index, (label, begin, _) in enumerate(runs):
        earlier = [j for j in range(index) if runs[j][0] == label]
        if earlier or begin == 0:
            parents.append(earlier[-1] if earlier else -1)
            continue
        ending = {runs[j][0]: j for j in range(len(runs)) if runs[j][2] == begin - 1}
        under = masks[begin - 1][masks[begin] == label]
        counts = np.bincount(under, minlength=1)
        candidates = [(int(counts[lab]), j) for lab, j in ending.items() if lab < len(counts)]
        best = max(candidates, default=(0, -1))
        parents.append(best[1] if best[0] > 0 else -1)
    return parents


def derive_tracks(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Track-id masks (T, H, W) uint16 and their `L B E P` table from masks with persistent labels.

    Runs of a label are tracks; see the module docstring for parents and joined relabellings.
    Track ids are 1..N in order of (first frame, source label).
    """
    runs = label_runs(masks)
    parents = run_parents(masks, runs)
    daughters = [0] * len(runs)
    for parent in parents:
        if parent >= 0:
            daughters[parent] += 1
    root = list(range(len(runs)))
    end: dict[int, int] = {}
    for index, (_, begin, last) in enumerate(runs):
        parent = parents[index]
        if parent >= 0 and daughters[parent] == 1 and begin == runs[parent][2] + 1:
            root[index] = root[parent]
        end[root[index]] = last
    roots = sorted(set(root), key=lambda r: (runs[r][1], runs[r][0]))
    track_id = {r: number for number, r in enumerate(roots, start=1)}
    tracks = np.array(
        [
            [
                track_id[r],
                runs[r][1],
                end[r],
                track_id[root[parents[r]]] if parents[r] >= 0 else 0,
            ]
            for r in roots
        ],
        dtype=np.int64,
    ).reshape(-1, 4)
    relabelled = np.zeros(masks.shape, dtype=np.uint16)
    lookups = np.zeros((len(masks), int(masks.max(initial=0)) + 1), dtype=np.uint16)
    for index, (label, begin, last) in enumerate(runs):
        lookups[begin : last + 1, label] = track_id[root[index]]
    for t, frame in enumerate(masks):
        relabelled[t] = lookups[t][frame]
    return relabelled, tracks
