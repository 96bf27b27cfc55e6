"""Evaluation with the Cell Tracking Challenge metrics, computed by py-ctcmetrics (not rewritten).

Each result folder is scored into a tidy CSV (dataset, sequence, method, metric, value); the
gathered `results/metrics.csv` gets a provenance sidecar so a rerun can be matched to its numbers.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cosinetrack import ctc
from cosinetrack.config import EvaluateConfig
from cosinetrack.provenance import provenance

logger = logging.getLogger(__name__)

COLUMNS = ["dataset", "sequence", "method", "metric", "value"]


def check_pair(res_dir: Path, gt_dir: Path, need_seg: bool = True) -> int:
    """Check a result and its ground truth belong together; return the number of frames."""
    frames = len(ctc.result_masks(res_dir))
    gt = ctc.read_ground_truth(gt_dir, frames, check_masks=False)
    if need_seg and not gt.seg:
        raise ctc.CtcFormatError(f"{gt_dir}/SEG: no segmentation ground truth to score SEG with")
    ctc.check_result(res_dir, frames, max_gt_label=int(gt.tracks[:, 0].max(initial=0)))
    return frames


def score(res_dir: Path, gt_dir: Path, cfg: EvaluateConfig) -> dict[str, float]:
    """Score one result folder with py-ctcmetrics; an invalid result is an error with the reason."""
    from ctc_metrics import evaluate_sequence

    check_pair(res_dir, gt_dir, need_seg="SEG" in cfg.metrics)
    if not ctc.read_track_table(Path(res_dir) / "res_track.txt").size:
        logger.warning("%s is empty: every metric scores 0", res_dir)
        return {metric: 0.0 for metric in cfg.metrics}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        results = evaluate_sequence(
            res=str(res_dir), gt=str(gt_dir), metrics=["Valid", *cfg.metrics], threads=1
        )
    logger.info("py-ctcmetrics: %s", printed.getvalue().strip())
    if not results.get("Valid"):
        raise ValueError(f"{res_dir}: py-ctcmetrics marks the result invalid: {printed.getvalue()}")
    return {
        key: float(value)
        for key, value in results.items()
        if isinstance(value, int | float | np.number) and value is not None
    }


def run_evaluate(
    res_dir: Path, gt_dir: Path, out: Path, labels: dict[str, str], cfg: EvaluateConfig
) -> None:
    """Score a result against its GT and write tidy rows tagged with `labels` (dataset, ...)."""
    scores = score(res_dir, gt_dir, cfg)
    rows = [{**labels, "metric": metric, "value": value} for metric, value in scores.items()]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(out, index=False)
    headline = {k: round(scores[k], 4) for k in ("SEG", "DET", "TRA") if k in scores}
    logger.info("%s %s: %s", labels, res_dir, headline)


def run_gather_metrics(
    tables: list[Path], out: Path, sidecar: Path, config: dict[str, Any]
) -> None:
    """Concatenate per-sequence metric tables into one and record how they were made."""
    frame = pd.concat([pd.read_csv(path, dtype={"sequence": str}) for path in tables])
    frame = frame.sort_values(COLUMNS[:4]).reset_index(drop=True)
    frame.to_csv(out, index=False)
    record = provenance(config)
    record["seeds"] = seeds(config)
    sidecar.write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")


def seeds(config: dict[str, Any]) -> dict[str, Any]:
    """Collect every seed in a workflow config: training and each dataset's simulation."""
    found: dict[str, Any] = {"train": config.get("train", {}).get("seed")}
    for name, dataset in config.get("datasets", {}).items():
        if dataset.get("simulate"):
            found[f"simulate.{name}"] = dataset["simulate"].get("seed")
    return found
