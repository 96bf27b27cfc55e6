"""Whole-workflow wall time on sequences of real size, with a model that is already trained.

    .venv/bin/python benchmarks/workflow_sizes.py --model results/sim/model

Users with real data have 100-1000 frames of 512x512 to 1100x700 with up to hundreds of cells.
Training costs the same at any frame size (it runs on crops for `train.iterations` steps, see
benchmarks/network.py), so this benchmark runs everything after it: for each size a simulated
sequence (`SIZES`) becomes a dataset that names the trained model folder (`model:`) and tests on
its one sequence, and the real workflow (`snakemake --cores N`) preprocesses, infers, clusters,
links, runs the baseline and scores both with py-ctcmetrics. From the Snakemake benchmark files it
writes one row per size and rule: seconds (summed over the rule's jobs), jobs, the largest peak RSS
of one job, and a `workflow` row with the wall time from the first job's start to the last job's
end (simulating the data excluded). Rows go to benchmarks/out/workflow_sizes.csv and are printed.

The `movie-*` sizes are one long crowded movie cut at 100, 300 and 1,000 frames (1024x1024, about
500 nuclei of 24 px per frame; the same seed, so the shorter ones are the start of the longer):
benchmarks/out/workflow_sizes_per_frame.csv has each rule's seconds per frame at each length,
which stay flat where a stage scales linearly in the frames, and its peak memory, which stays flat
where a job streams its frames.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import pandas as pd
from accuracy import METRICS, run_workflow

logger = logging.getLogger("workflow_sizes")

REPO = Path(__file__).resolve().parents[1]
# SimConfig fields: ~170 nuclei of 28 px in 1100x700 frames; 200 frames of 512x512 (~170 of 21 px).
SIZES: dict[str, dict[str, Any]] = {
    "frames-1100x700": {"height": 700, "width": 1100, "frames": 50, "radius": 14, "density": 0.136},
    "frames-512x200": {"height": 512, "width": 512, "frames": 200},
}
MOVIE = {"height": 1024, "width": 1024, "radius": 12, "density": 0.23}  # ~530 nuclei a frame
LENGTHS = (100, 300, 1000)
SIZES.update({f"movie-1024x{frames}": {**MOVIE, "frames": frames} for frames in LENGTHS})
SKIPPED = {"simulate"}  # writing the data is not the user's workflow


def dataset_config(name: str, size: dict[str, Any], model: Path) -> dict[str, Any]:
    """A config whose one dataset is a simulated sequence run with an existing model folder."""
    simulate = {**size, "sequences": 1, "seed": 1}
    return {"datasets": {name: {"simulate": simulate, "model": str(model), "test": ["01"]}}}


def rule_rows(folder: Path, name: str) -> list[dict[str, Any]]:
    """Seconds, jobs and peak RSS of each rule from its benchmark files; then the wall time."""
    rows, spans = {}, []
    folders = [folder / "results" / name / "benchmarks", folder / "results" / "benchmarks"]
    files = [(path, base) for base in folders for path in sorted(base.glob("**/*.tsv"))]
    for path, base in files:
        rule = path.relative_to(base).parts[0].split(".")[0]
        if rule in SKIPPED:
            continue
        bench = pd.read_csv(path, sep="\t").iloc[0]
        spans.append((path.stat().st_mtime - float(bench["s"]), path.stat().st_mtime))
        row = rows.setdefault(rule, {"sequence": name, "rule": rule, "s": 0.0, "jobs": 0})
        row["s"] = round(row["s"] + float(bench["s"]), 2)
        row["jobs"] += 1
        row["max_rss_mb"] = max(row.get("max_rss_mb", 0.0), float(bench["max_rss"]))
    wall = round(max(e for _, e in spans) - min(s for s, _ in spans), 1)
    peak = max(r["max_rss_mb"] for r in rows.values())
    jobs = sum(r["jobs"] for r in rows.values())
    total = {"sequence": name, "rule": "workflow", "s": wall, "jobs": jobs, "max_rss_mb": peak}
    return [*rows.values(), total]


def per_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Seconds per frame and peak memory of each rule at each length of the long movie."""
    movie = table[table["sequence"].str.startswith("movie-")].copy()
    movie["frames"] = [SIZES[name]["frames"] for name in movie["sequence"]]
    movie["s_per_frame"] = (movie["s"] / movie["frames"]).round(3)
    wide = movie.pivot_table(
        index="rule", columns="frames", values=["s_per_frame", "max_rss_mb"], aggfunc="first"
    )
    wide.columns = [f"{value}@{frames}" for value, frames in wide.columns]
    return wide.reset_index()


def main() -> None:
    """Run the workflow after training at each size and gather its per-rule times."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a trained model folder")
    parser.add_argument(
        "--sizes", nargs="+", choices=list(SIZES), default=list(SIZES), help="(all: hours)"
    )
    parser.add_argument("--cores", type=int, default=2, help="Snakemake --cores")
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks/out/workflow_sizes")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/out/workflow_sizes.csv")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    rows = []
    for name in args.sizes:
        folder = args.workdir / name
        run_workflow(dataset_config(name, SIZES[name], args.model.resolve()), folder, args.cores)
        rows += rule_rows(folder, name)
        metrics = pd.read_csv(folder / "results" / "metrics.csv", dtype={"sequence": str})
        headline = metrics[metrics["metric"].isin(METRICS)]
        logger.info("%s done:\n%s", name, headline.to_string(index=False))
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.to_markdown(index=False, floatfmt=".4g"))
    scaling = per_frame(table)
    if len(scaling):
        scaling.to_csv(args.out.with_name(f"{args.out.stem}_per_frame.csv"), index=False)
        print(scaling.to_markdown(index=False, floatfmt=".4g"))


if __name__ == "__main__":
    main()
