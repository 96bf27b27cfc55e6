"""Learning per CPU-minute: validation SEG, DET and TRA against minutes of training.

    .venv/bin/python benchmarks/learning_curve.py                        # every dataset, schedule
    .venv/bin/python benchmarks/learning_curve.py --datasets sim --schedules 1200
    .venv/bin/python benchmarks/learning_curve.py --schedules 1200 --set train.batch_size=2

`--set SECTION.KEY=VALUE` (a YAML value; repeatable) changes a setting of every run, and names the
variant in the table and the run folders.

For each dataset and training schedule the script runs the real workflow up to the model folder
(`results/{dataset}/model/validation.csv`) with `train.candidates` every tenth of the iterations,
so that `select` scores the weights after 10%, 20%, ... 100% of training on the validation frames
(the frames held back from training, as in every run; the test sequences are never touched). One
row per candidate goes to benchmarks/out/learning_curve.csv: the iteration, the training minutes
to reach it (the iteration times the median seconds per step of train_log.csv, with the threads
of `--cores`: the median, so that a stretch of other load on the machine does not bend the curve;
`step_s` is that median) and the validation SEG, DET, TRA and criterion that select measured with
the derived post-processing settings. A schedule is a number of iterations (the learning rate
drops to a tenth after `train.lr_decay_at` of them, so a shorter schedule is not the start of a
longer one).

Say which CPU ran it: on an x86 CPU with AVX-512, `ATEN_CPU_CAPABILITY=avx2
ONEDNN_MAX_CPU_ISA=AVX2` in the environment stands in for an AVX2-only CPU, and `--float32` sets
`train.mixed_precision: false` (a CPU without bfloat16 units trains in float32 anyway). Run it
alone: other load changes the minutes.
"""

from __future__ import annotations

import argparse
import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from accuracy import SIMULATED, SIMULATED_TEST

logger = logging.getLogger("learning_curve")

REPO = Path(__file__).resolve().parents[1]
# The embedded default of config.yaml, and two datasets of the accuracy table (benchmarks/
# accuracy.py) with other nucleus sizes and densities.
DATASETS: dict[str, dict[str, Any]] = {
    "sim": {
        "simulate": {"height": 256, "width": 256, "frames": 40, "sequences": 2, "seed": 1},
        "test": ["02"],
    },
    "sim-r6-dense": {"simulate": SIMULATED["sim-r6-dense"], "test": SIMULATED_TEST},
    "sim-r12": {"simulate": SIMULATED["sim-r12"], "test": SIMULATED_TEST},
}
CANDIDATES = [round(k / 10, 1) for k in range(1, 11)]
COLUMNS = [
    "dataset",
    "variant",
    "iterations",
    "iteration",
    "step_s",
    "train_minutes",
    "SEG",
    "DET",
    "TRA",
    "criterion",
]


def parse_settings(pairs: list[str]) -> dict[str, dict[str, Any]]:
    """SECTION.KEY=VALUE pairs as config sections, each value read as YAML."""
    sections: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        section, _, name = key.partition(".")
        if not name or not value:
            raise SystemExit(f"--set {pair!r}: expected SECTION.KEY=VALUE, e.g. train.batch_size=2")
        sections.setdefault(section, {})[name] = yaml.safe_load(value)
    return sections


def curve_config(
    name: str, iterations: int, float32: bool, settings: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The workflow config of one curve: the dataset, its schedule, a candidate every tenth."""
    config: dict[str, Any] = {k: dict(v) for k, v in settings.items()}
    train = config.setdefault("train", {})
    train.update({"iterations": iterations, "candidates": CANDIDATES})
    if float32:
        train["mixed_precision"] = False
    return {"datasets": {name: {**DATASETS[name], "train": ["01"]}}, **config}


def run_to_model(config: dict[str, Any], folder: Path, name: str, cores: int) -> None:
    """Run the real workflow in `folder` up to the dataset's model folder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]
    command += ["--directory", str(folder), "--configfile", str(path), "--cores", str(cores)]
    command.append(f"results/{name}/model/validation.csv")
    logger.info("running %s", " ".join(command))
    with open(folder / "snakemake.log", "w") as log:
        subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True)


def candidate_iteration(name: str, iterations: int) -> int:
    """The iteration a candidate file holds: iteration000120.pt is 120, model.pt the last."""
    found = re.fullmatch(r"iteration(\d+)\.pt", name)
    return int(found.group(1)) if found else iterations


def curve_rows(folder: Path, name: str, iterations: int, variant: str) -> pd.DataFrame:
    """One row per candidate: its iteration, the training minutes to it, its validation scores."""
    results = folder / "results" / name
    log = pd.read_csv(results / "train" / "train_log.csv")
    step = float((log["seconds"].diff() / log["iteration"].diff()).median())
    scores = pd.read_csv(results / "model" / "validation.csv")
    scores = scores[scores["stage"] == "checkpoint"].copy()
    scores["iteration"] = [candidate_iteration(c, iterations) for c in scores["checkpoint"]]
    scores["train_minutes"] = (scores["iteration"] * step / 60).round(2)
    scores = scores.assign(
        dataset=name, variant=variant, iterations=iterations, step_s=round(step, 3)
    )
    scores = scores.sort_values("iteration")
    return scores.reindex(columns=COLUMNS)


def main() -> None:
    """Run one workflow per dataset and schedule; gather the validation curves into one table."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        allow_abbrev=False,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--schedules", nargs="+", type=int, default=[1200, 600])
    parser.add_argument("--float32", action="store_true", help="train.mixed_precision: false")
    parser.add_argument("--set", nargs="+", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--cores", type=int, default=2, help="Snakemake --cores per run")
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks/out/learning_curve")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/out/learning_curve.csv")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings, variant = parse_settings(args.set), " ".join(args.set) or "default"
    tables = []
    for name in args.datasets:
        for iterations in args.schedules:
            folder = args.workdir / "-".join([name, str(iterations), *args.set])
            config = curve_config(name, iterations, args.float32, settings)
            run_to_model(config, folder, name, args.cores)
            tables.append(curve_rows(folder, name, iterations, variant))
            table = pd.concat(tables)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(args.out, index=False)
    print(pd.concat(tables).to_markdown(index=False))


if __name__ == "__main__":
    main()
