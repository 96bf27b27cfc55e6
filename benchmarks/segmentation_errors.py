"""Count segmentation errors of a CTC result against full ground-truth masks, frame by frame.

What SEG and DET summarise, as counts an error analysis can act on: each ground-truth cell of
each frame is *matched* (one result instance covers more than half of it and is the majority owner
of no other cell), *merged* (the instance covering most of it covers most of another cell too),
*split* (in the foreground, but no instance covers more than half of it) or *missed* (less than half
of it in the foreground); result instances that lie mostly on background are *false*, and those
that lie mostly on a cell but cover more than half of none are *fragments* (the pieces of a split
cell, or slivers beside a matched one). Needs masks of every cell (the simulator's TRA), not
markers.

    .venv/bin/python benchmarks/segmentation_errors.py RES_FOLDER GT_TRA_FOLDER [--out counts.csv]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile


def owners(truth: np.ndarray, result: np.ndarray) -> dict[int, tuple[int, float]]:
    """Each truth cell: the result label covering most of it (0 = background) and that share."""
    out = {}
    for cell in np.unique(truth[truth > 0]):
        labels, counts = np.unique(result[truth == cell], return_counts=True)
        best = int(np.argmax(np.where(labels > 0, counts, -1))) if (labels > 0).any() else 0
        out[int(cell)] = (int(labels[best]), counts[best] / counts.sum())
    return out


def frame_errors(truth: np.ndarray, result: np.ndarray) -> dict[str, int]:
    """The counts of one frame (see the module docstring)."""
    cells = owners(truth, result)
    foreground = {c: float((result[truth == c] > 0).mean()) for c in cells}
    majority = [label for label, share in cells.values() if label > 0 and share > 0.5]
    shared = {label for label in majority if majority.count(label) > 1}
    counts = {"cells": len(cells), "matched": 0, "merged": 0, "split": 0, "missed": 0}
    for cell, (label, share) in cells.items():
        if foreground[cell] <= 0.5:
            counts["missed"] += 1
        elif label in shared:
            counts["merged"] += 1
        elif label > 0 and share > 0.5:
            counts["matched"] += 1
        else:
            counts["split"] += 1
    instances = np.unique(result[result > 0])
    owning = set(majority)
    on_background = {i for i in instances if np.bincount(truth[result == i]).argmax() == 0}
    counts["instances"] = len(instances)
    counts["false"] = len(on_background)
    counts["fragments"] = len(set(instances.tolist()) - owning - on_background)
    return counts


def sequence_errors(res: Path, truth: Path) -> pd.DataFrame:
    """Counts per frame of a result folder (mask*.tif) against a TRA folder (man_track*.tif)."""
    rows = []
    for path in sorted(truth.glob("man_track*.tif")):
        frame = path.stem.removeprefix("man_track")
        result = tifffile.imread(res / f"mask{frame}.tif")
        rows.append({"frame": int(frame), **frame_errors(tifffile.imread(path), result)})
    return pd.DataFrame(rows)


def main() -> None:
    """Print the summed counts; write the per-frame table with --out."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("res", type=Path, help="CTC result folder (mask*.tif)")
    parser.add_argument("truth", type=Path, help="ground-truth folder (man_track*.tif, masks)")
    parser.add_argument("--out", type=Path, help="per-frame counts (CSV)")
    args = parser.parse_args()
    table = sequence_errors(args.res, args.truth)
    if args.out:
        table.to_csv(args.out, index=False)
    print(table.drop(columns="frame").sum().to_string())


if __name__ == "__main__":
    main()
