"""Metrics table: the headline py-ctcmetrics scores side by side per method."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from cosinetrack.config.sections import ALL_METRICS

logger = logging.getLogger(__name__)

# Every metric the evaluation computes, with BC at its usual tolerance of one frame.
HEADLINE_METRICS = tuple("BC(1)" if metric == "BC" else metric for metric in ALL_METRICS)


def wide_metrics(metrics: pd.DataFrame, headline: Sequence[str] = HEADLINE_METRICS) -> pd.DataFrame:
    """Pivot tidy metrics to rows (dataset, sequence, metric) and one column per method.

    Only the `headline` metrics present are kept, in that order; methods keep their order of
    first appearance; values are rounded to 3 decimals, and a metric a method lacks is empty, as
    is one listed without a value (SEG of a sequence without SEG ground truth).
    """
    metrics = metrics[metrics["metric"].isin(headline)]
    if metrics.empty:
        return pd.DataFrame(columns=["dataset", "sequence", "metric"])
    methods = list(dict.fromkeys(metrics["method"]))
    present = [metric for metric in headline if metric in set(metrics["metric"])]
    # groupby keeps a row whose values are all empty, where pivot_table would drop it
    keys = ["dataset", "sequence", "metric", "method"]
    wide = metrics.groupby(keys, sort=False)["value"].first().unstack("method")
    wide = wide.reindex(columns=methods).reset_index()
    wide["metric"] = pd.Categorical(wide["metric"], categories=present, ordered=True)
    wide = wide.sort_values(["dataset", "sequence", "metric"]).reset_index(drop=True)
    wide["metric"] = wide["metric"].astype(str)
    wide.columns.name = None
    wide[methods] = wide[methods].astype(float).round(3)
    return wide


def metrics_table(
    metrics_csv: Path,
    out_csv: Path,
    out_html: Path | None = None,
    headline: Sequence[str] = HEADLINE_METRICS,
) -> None:
    """Write the headline metrics side by side per method (CSV, optionally HTML), for comparison."""
    metrics = pd.read_csv(metrics_csv, dtype={"dataset": str, "sequence": str, "method": str})
    wide = wide_metrics(metrics, headline)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    wide.to_csv(out_csv, index=False, float_format="%.3f")
    if out_html is not None:
        Path(out_html).parent.mkdir(parents=True, exist_ok=True)
        Path(out_html).write_text(
            wide.to_html(index=False, float_format="{:.3f}".format, na_rep="", border=0)
        )
    logger.info("%s: %d rows, methods %s", out_csv, len(wide), list(wide.columns[3:]))
