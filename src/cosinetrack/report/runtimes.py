"""Runtimes from Snakemake `benchmark:` TSVs: a tidy table per job and a chart per rule."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

RUNTIME_COLUMNS = ["dataset", "rule", "job", "seconds", "max_rss_mb"]


def benchmark_job(path: Path) -> tuple[str, str, str]:
    """Split a benchmark path `.../{dataset}/benchmarks/{rule}[/{wildcards...}].tsv` into names.

    Returns (dataset, rule, job); job joins the wildcard parts with "/" and is "" for a rule that
    runs once per dataset. Without a `benchmarks` folder the dataset is "" and the rule the stem.
    """
    parts = list(Path(path).with_suffix("").parts)
    if "benchmarks" not in parts[:-1]:
        return "", parts[-1], ""
    at = len(parts) - 1 - parts[::-1].index("benchmarks")
    dataset = parts[at - 1] if at > 0 else ""
    return dataset, parts[at + 1], "/".join(parts[at + 2 :])


def read_benchmark(path: Path) -> dict[str, object]:
    """Read one Snakemake `benchmark:` TSV into a tidy row; repeats are averaged (RSS: maximum)."""
    table = pd.read_csv(path, sep="\t", na_values=["NA", "-"])
    missing = [column for column in ("s", "max_rss") if column not in table.columns]
    if missing:
        raise ValueError(f"{path}: not a Snakemake benchmark file, no column {missing[0]!r}")
    if table.empty:
        logger.warning("%s: benchmark file has no rows", path)
    dataset, rule, job = benchmark_job(path)
    return {
        "dataset": dataset,
        "rule": rule,
        "job": job,
        "seconds": float(pd.to_numeric(table["s"], errors="coerce").mean()),
        "max_rss_mb": float(pd.to_numeric(table["max_rss"], errors="coerce").max()),
    }


def runtime_rows(benchmark_files: Sequence[Path]) -> pd.DataFrame:
    """Read benchmark files into a tidy table (dataset, rule, job, seconds, max_rss_mb), sorted."""
    rows = [read_benchmark(Path(path)) for path in benchmark_files]
    frame = pd.DataFrame(rows, columns=RUNTIME_COLUMNS)
    return frame.sort_values(["dataset", "rule", "job"], kind="stable").reset_index(drop=True)


def rule_totals(runtimes: pd.DataFrame) -> pd.DataFrame:
    """Sum seconds per (dataset, rule) and count its jobs, largest total first."""
    totals = (
        runtimes.groupby(["dataset", "rule"], sort=True)
        .agg(jobs=("job", "size"), seconds=("seconds", "sum"))
        .reset_index()
    )
    return totals.sort_values("seconds", ascending=False, kind="stable").reset_index(drop=True)


def human_duration(seconds: float) -> str:
    """Format seconds as a short duration such as `12.3 s`, `4 min 05 s` or `2 h 03 min`."""
    if not np.isfinite(seconds):
        return "n/a"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def runtime_table(benchmark_files: list[Path], out_csv: Path, out_png: Path) -> None:
    """Tabulate Snakemake benchmark files and chart seconds per rule, to show where time goes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runtimes = runtime_rows(benchmark_files)
    for path in (Path(out_csv), Path(out_png)):
        path.parent.mkdir(parents=True, exist_ok=True)
    runtimes.to_csv(out_csv, index=False)
    totals = rule_totals(runtimes)
    several = totals["dataset"].nunique() > 1
    names = [
        (f"{dataset}: " if several else "") + f"{rule} ({jobs} job{'s' if jobs != 1 else ''})"
        for dataset, rule, jobs in zip(
            totals["dataset"], totals["rule"], totals["jobs"], strict=True
        )
    ]
    figure, axis = plt.subplots(figsize=(8, float(np.clip(1.2 + 0.35 * len(totals), 2.5, 20))))
    if totals.empty:
        axis.text(0.5, 0.5, "no benchmarks", ha="center", va="center", fontsize=14)
        axis.set_axis_off()
    else:
        seconds = totals["seconds"].fillna(0.0).to_numpy()
        axis.barh(range(len(totals)), seconds, color="tab:blue")
        axis.set_yticks(range(len(totals)), names)
        axis.invert_yaxis()
        for row, value in enumerate(totals["seconds"]):
            axis.text(seconds[row], row, " " + human_duration(value), va="center", fontsize=8)
        axis.set_xlim(0, max(float(seconds.max()), 1.0) * 1.25)
        axis.set_xlabel("wall-clock seconds, summed over jobs")
        axis.set_title(f"Runtime per rule (total {human_duration(float(seconds.sum()))})")
    figure.tight_layout()
    figure.savefig(out_png, dpi=100)
    plt.close(figure)
    logger.info("%s: %d benchmark files, %d rules", out_csv, len(runtimes), len(totals))
