"""How well the cells' diameter estimated from frames alone matches what their outlines measure.

    .venv/bin/python benchmarks/object_size.py          # every dataset of the accuracy table

For each dataset of `benchmarks/accuracy.py` (its simulated variants, written to a scratch folder
with one sequence each, and the real PhC-C2DL-PSC time-lapse, fetched with pip as there), the
diameter `adapt` estimates from five frames of training sequence 01 when its ground truth has TRA
markers alone (`cosinetrack.stages.adapt.estimated_diameter`) beside what the same sequence's SEG
masks measure (median equivalent diameter, width and length): one row per dataset in
benchmarks/out/object_size.csv, with the relative errors and the seconds the estimate took,
printed as markdown. The sequences are the training ones: nothing here looks at a test sequence.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import pandas as pd
from accuracy import REAL, REPO, SIMULATED

from cosinetrack.config.sections import SimConfig
from cosinetrack.formats import public_data
from cosinetrack.simulate import run_simulate
from cosinetrack.stages.adapt import estimated_diameter, measure_objects


def dataset_root(name: str, scratch: Path, data: Path, cache: Path) -> Path:
    """The CTC folder of a dataset: simulated into `scratch` (sequence 01 only), or the real one."""
    if name in REAL:
        return public_data.prepare(name, data / name, cache)
    root = scratch / name
    run_simulate(root, SimConfig(**{**SIMULATED[name], "sequences": 1}))
    return root


def row(name: str, root: Path) -> dict[str, object]:
    """The estimate against the measurement on training sequence 01 of one dataset."""
    truth = measure_objects(root, ["01"])
    start = time.perf_counter()
    estimate = estimated_diameter(root, ["01"])
    seconds = time.perf_counter() - start
    return {
        "dataset": name,
        "measured_diameter": truth.diameter,
        "measured_width": truth.width,
        "measured_length": truth.length,
        "elongation": truth.elongation,
        "estimate": estimate,
        "error_vs_diameter": round(estimate / truth.diameter - 1, 3),
        "error_vs_width": round(estimate / truth.width - 1, 3),
        "seconds": round(seconds, 2),
    }


def main() -> None:
    """Estimate and measure every dataset, write the table and print it."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    names = [*SIMULATED, *REAL]
    parser.add_argument("--datasets", nargs="+", choices=names, default=names)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/out/object_size.csv")
    parser.add_argument("--data", type=Path, default=REPO / "resources/datasets")
    parser.add_argument("--cache", type=Path, default=REPO / "resources/cache")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.datasets:
            rows.append(row(name, dataset_root(name, Path(scratch), args.data, args.cache)))
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.to_markdown(index=False))


if __name__ == "__main__":
    main()
