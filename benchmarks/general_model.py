"""Train the general model that ships with the package, with the real workflow, and install it.

    .venv/bin/python benchmarks/general_model.py            # about 25 min on 2 cores (bfloat16)
    .venv/bin/python benchmarks/general_model.py --install  # then copy it into the package

Writes the general training data (`cosinetrack.stages.general.write_spread`: twelve simulated
sequences of nuclei and rods, 40 frames each, each resized to one cell size, and a thirteenth held
out) into `<workdir>/spread`, then runs the workflow on a dataset `general` that trains on the
twelve, and segments, tracks and scores the held-out one (`results/metrics.csv`), with
`adapt.object_diameter` set to that size (so the working scale is the embedded default's 0.5) and
every other setting at its default but `train.iterations`; the post-processing settings are chosen
on the last frames of each sequence as for any dataset. The model folder is
`<workdir>/results/general/model/`; `--install` copies its model.pt, config.yaml, settings.yaml,
postprocess.yaml and the spread's record into `src/cosinetrack/models/general/`, which
`model: general` names. The workflow's own benchmark files give the CPU time of each job.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

from accuracy import run_workflow  # benchmarks/ is on the path when this script runs

from cosinetrack.stages.general import GENERAL_DIAMETER, spread_names, write_spread

logger = logging.getLogger("general_model")

REPO = Path(__file__).resolve().parents[1]
PACKAGED = REPO / "src/cosinetrack/models/general"
MODEL_FILES = ("model.pt", "config.yaml", "settings.yaml", "postprocess.yaml")


def general_config(spread: Path, iterations: int) -> dict:
    """The workflow config that trains the general model on every sequence of the spread."""
    train, held_out = spread_names()
    dataset = {"path": str(spread.resolve()), "train": train, "test": [held_out]}
    return {
        "datasets": {"general": dataset},
        "adapt": {"object_diameter": GENERAL_DIAMETER},
        "train": {"iterations": iterations},
    }


def install(folder: Path, spread: Path) -> None:
    """Copy the trained model folder and the spread's record into the package."""
    PACKAGED.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        shutil.copyfile(folder / "results/general/model" / name, PACKAGED / name)
    shutil.copyfile(spread / "spread.json", PACKAGED / "spread.json")
    logger.info("installed into %s", PACKAGED)


def main() -> None:
    """Write the spread, train on it through the workflow, optionally install the model."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        allow_abbrev=False,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks/out/general")
    parser.add_argument("--iterations", type=int, default=2400)
    parser.add_argument("--cores", type=int, default=2, help="Snakemake --cores")
    parser.add_argument("--install", action="store_true", help="copy the model into the package")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args.workdir.mkdir(parents=True, exist_ok=True)
    spread = args.workdir / "spread"
    if not spread.is_dir():
        write_spread(spread)
    run_workflow(general_config(spread, args.iterations), args.workdir, args.cores)
    if args.install:
        install(args.workdir, spread)


if __name__ == "__main__":
    main()
