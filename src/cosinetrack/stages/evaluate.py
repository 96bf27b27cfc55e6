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

from cosinetrack.config.sections import EvaluateConfig
from cosinetrack.dag.provenance import provenance
from cosinetrack.formats import ctc

logger = logging.getLogger(__name__)

COLUMNS = ["dataset", "sequence", "method", "metric", "value"]


def check_pair(res_dir: Path, gt_dir: Path) -> ctc.GroundTruth:
    """Check a result and its ground truth belong together; return the ground truth's files."""
    frames = len(ctc.result_masks(res_dir))
    gt = ctc.read_ground_truth(gt_dir, frames, check_masks=False)
    ctc.check_result(res_dir, frames, max_gt_label=int(gt.tracks[:, 0].max(initial=0)))
    return gt


# Metrics py-ctcmetrics scores on the SEG masks: SEG itself, and OP_CSB and OP_CTB made from it.
SEG_METRICS = ("SEG",)
DERIVED_FROM_SEG = ("OP_CSB", "OP_CTB")


def scorable(metrics: list[str], gt: ctc.GroundTruth, gt_dir: Path) -> list[str]:
    """The metrics a ground truth can score: without SEG masks, all but the SEG-based ones."""
    if gt.seg or not set(metrics) & set(SEG_METRICS):
        return list(metrics)
    logger.info(
        "%s: no SEG masks, so no %s; scoring the other metrics",
        Path(gt_dir) / "SEG",
        ", ".join([*SEG_METRICS, *DERIVED_FROM_SEG]),
    )
    return [metric for metric in metrics if metric not in SEG_METRICS]


def score(res_dir: Path, gt_dir: Path, cfg: EvaluateConfig) -> dict[str, float]:
    """Score one result folder with py-ctcmetrics; an invalid result is an error with the reason.

    Without SEG masks in the ground truth, the SEG-based metrics are left out (no key), not zero.
    """
    from ctc_metrics import evaluate_sequence

    metrics = scorable(cfg.metrics, check_pair(res_dir, gt_dir), gt_dir)
    if not ctc.read_track_table(Path(res_dir) / "res_track.txt").size:
        logger.warning("%s is empty: every metric scores 0", res_dir)
        return {metric: 0.0 for metric in metrics}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        results = evaluate_sequence(
            res=str(res_dir), gt=str(gt_dir), metrics=["Valid", *metrics], threads=1
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
    """Score a result against its GT and write tidy rows tagged with `labels` (dataset, ...).

    A SEG metric the ground truth cannot score keeps its row, with an empty value, so the tables
    made from these rows show an empty cell rather than no row.
    """
    scored = score(res_dir, gt_dir, cfg)
    unscored = [m for m in cfg.metrics if m in SEG_METRICS and m not in scored]
    scores: dict[str, float | None] = {**scored, **dict.fromkeys(unscored)}
    rows = [{**labels, "metric": metric, "value": value} for metric, value in scores.items()]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(out, index=False)
    headline = {k: round(scored[k], 4) for k in ("SEG", "DET", "TRA") if k in scored}
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
