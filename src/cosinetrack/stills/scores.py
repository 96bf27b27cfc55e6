"""Scores of instance segmentations of still images: matching at IoU 0.5, F1, matched IoU, SEG.

One overlap table per image gives all three. F1 and the mean matched IoU follow StarDist's
`matching` (Schmidt et al. 2018): ground-truth and predicted objects are paired one-to-one by
scipy's `linear_sum_assignment`, maximising the number of pairs with IoU >= 0.5 and then their IoU;
F1 = 2 TP / (2 TP + FP + FN), mean matched IoU = the mean IoU of those pairs. SEG is the Cell
Tracking Challenge's: a ground-truth object R is matched to the predicted object S that covers more
than half of it, scores |R & S| / |R | S| (0 without one), and SEG is the mean over all ground-truth
objects (the rule py-ctcmetrics applies; tests/test_stills_scores.py checks they agree). Over a set
of images the counts and IoUs are pooled, as both libraries do over a dataset.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from cosinetrack.formats.atomic import atomic_file
from cosinetrack.stills.dataset import image_paths, read_image, read_mask

logger = logging.getLogger(__name__)

IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class Counts:
    """What one image (or a pooled set) contributes to the scores."""

    gt_objects: int
    res_objects: int
    tp: int  # pairs with IoU >= 0.5
    matched_iou: float  # sum of the IoUs of those pairs
    seg_iou: float  # sum over ground-truth objects of their SEG IoU

    def __add__(self, other: Counts) -> Counts:
        """Pool two images."""
        return Counts(
            *(a + b for a, b in zip(asdict(self).values(), asdict(other).values(), strict=True))
        )

    def scores(self) -> dict[str, float]:
        """F1 at IoU 0.5, mean matched IoU, SEG, precision and recall from the pooled counts."""
        fp, fn = self.res_objects - self.tp, self.gt_objects - self.tp
        return {
            "f1": 2 * self.tp / max(2 * self.tp + fp + fn, 1),
            "mean_matched_iou": self.matched_iou / max(self.tp, 1),
            "seg": self.seg_iou / max(self.gt_objects, 1),
            "precision": self.tp / max(self.res_objects, 1),
            "recall": self.tp / max(self.gt_objects, 1),
        }


def overlap_table(gt: np.ndarray, res: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intersections (G, R) of every ground-truth and result object, and the object sizes."""
    if gt.shape != res.shape:
        raise ValueError(f"ground truth {gt.shape} and result {res.shape} differ in shape")
    _, gt_ids = np.unique(gt, return_inverse=True)  # dense ids, 0 = background when present
    _, res_ids = np.unique(res, return_inverse=True)
    gt_ids = gt_ids.reshape(-1) + (0 if (gt == 0).any() else 1)
    res_ids = res_ids.reshape(-1) + (0 if (res == 0).any() else 1)
    rows, cols = int(gt_ids.max(initial=0)) + 1, int(res_ids.max(initial=0)) + 1
    table = np.bincount(gt_ids * cols + res_ids, minlength=rows * cols).reshape(rows, cols)
    return table[1:, 1:], table.sum(1)[1:], table.sum(0)[1:]


def count_image(gt: np.ndarray, res: np.ndarray) -> Counts:
    """Match one image's objects and return its counts."""
    inter, gt_sizes, res_sizes = overlap_table(gt, res)
    union = gt_sizes[:, None] + res_sizes[None, :] - inter
    iou = inter / np.maximum(union, 1)  # (G, R)
    tp, matched = 0, 0.0
    if iou.size:
        # StarDist's cost: one more pair at the threshold outweighs any sum of IoUs (< 1/2).
        good = iou >= IOU_THRESHOLD
        cost = -good.astype(float) - iou / (2 * min(iou.shape))
        rows, cols = linear_sum_assignment(cost)
        kept = good[rows, cols]
        tp, matched = int(kept.sum()), float(iou[rows, cols][kept].sum())
    covered = inter > 0.5 * gt_sizes[:, None]  # at most one S per R: the CTC SEG match
    seg = float((iou * covered).sum())
    return Counts(len(gt_sizes), len(res_sizes), tp, matched, seg)


def score_folder(root: Path, split: str, res_dir: Path) -> tuple[pd.DataFrame, Counts]:
    """Per-image scores of a result folder against a split's masks, and the pooled counts."""
    rows, total = [], Counts(0, 0, 0, 0.0, 0.0)
    for image in image_paths(root, split):
        gt = read_mask(image, read_image(image).shape)
        res_path = Path(res_dir) / image.name
        if not res_path.is_file():
            raise ValueError(f"{res_path}: no result for {image}; rerun the segmentation")
        counts = count_image(gt, read_image(res_path))
        total += counts
        rows.append({"image": image.name, **asdict(counts), **counts.scores()})
    return pd.DataFrame(rows), total


def run_images_evaluate(root: Path, split: str, results: dict[str, Path], out: Path) -> None:
    """Score each method's labelled images of a split; one CSV, per image and pooled ('all')."""
    tables = []
    for method, res_dir in results.items():
        table, total = score_folder(root, split, res_dir)
        pooled = pd.DataFrame([{"image": "all", **asdict(total), **total.scores()}])
        tables.append(pd.concat([table, pooled]).assign(method=method, split=split))
        logger.info(
            "%s on %s: %s", method, split, {k: round(v, 4) for k, v in total.scores().items()}
        )
    table = pd.concat(tables, ignore_index=True)
    columns = ["method", "split", "image"]
    with atomic_file(out) as partial:
        table[columns + [c for c in table.columns if c not in columns]].to_csv(partial, index=False)
