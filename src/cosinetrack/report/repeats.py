"""Benchmark mode: rerun the workflow over seeds and summarise every metric by mean and spread.

Each seed gets its own working folder and config (the training seed and every simulated dataset's
seed set to it), runs the real workflow there, and leaves its `results/metrics.csv`; the summary
gathers them into one table with the mean, standard deviation, minimum and maximum of every
(dataset, sequence, method, metric).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from cosinetrack.dag import paths

logger = logging.getLogger(__name__)

KEYS = ["dataset", "sequence", "method", "metric"]


def seeded_config(config: dict[str, Any], seed: int) -> dict[str, Any]:
    """A copy of a workflow config whose training and simulation seeds are `seed`."""
    seeded = {**config, "train": {**config.get("train", {}), "seed": seed}}
    seeded["datasets"] = {
        name: {**dataset, "simulate": {**dataset["simulate"], "seed": seed}}
        if "simulate" in dataset
        else dataset
        for name, dataset in config["datasets"].items()
    }
    return seeded


def run_seed(snakefile: Path, config: dict[str, Any], folder: Path, cores: int) -> Path:
    """Run the workflow for one seed in `folder`; return its metrics table."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    command = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "--directory", str(folder)]
    command += ["--cores", str(cores), "--configfile", str(path)]
    logger.info("running %s", " ".join(command))
    subprocess.run(command, check=True)
    return folder / paths.ALL_METRICS


def summarise(tables: dict[int, Path]) -> pd.DataFrame:
    """Mean, spread and range of every metric over the seeds' tables.

    `seeds` counts the seeds that gave the metric a value (BC(i), CT and CCA are undefined on a
    sequence without divisions).
    """
    frames = [
        pd.read_csv(path, dtype={"sequence": str}).assign(seed=seed)
        for seed, path in tables.items()
    ]
    values = pd.concat(frames)
    summary = values.groupby(KEYS)["value"].agg(["mean", "std", "min", "max", "count"])
    return summary.rename(columns={"count": "seeds"}).reset_index()


def run_repeats(
    snakefile: Path, config_path: Path, seeds: list[int], out: Path, cores: int
) -> None:
    """Run the workflow once per seed under `out/seed<k>/` and write `out/summary.csv`."""
    config = yaml.safe_load(Path(config_path).read_text())
    tables = {
        seed: run_seed(snakefile, seeded_config(config, seed), out / f"seed{seed}", cores)
        for seed in seeds
    }
    summary = summarise(tables)
    summary.to_csv(out / "summary.csv", index=False)
    logger.info("summary of %d seeds written to %s", len(seeds), out / "summary.csv")
