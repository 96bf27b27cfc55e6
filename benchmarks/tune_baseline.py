"""Tune the classical baseline once, on the training sequence only, by grid search on SEG + TRA.

Simulates the default dataset (or takes a CTC folder with --data), runs `run_baseline` on the
training sequence (01) for every setting of a staged grid and scores each result with py-ctcmetrics
(`evaluate.score`), maximising SEG + TRA. Stage 1 searches the threshold and the smoothing; stage
2 the watershed seeds and the smallest object around the stage-1 best; stage 3 the linking
threshold around that. The best setting is printed as the `baseline:` section of
config.yaml; the defaults of `BaselineConfig` were set from it. Sequences given with --also-score
are scored with the chosen setting for information only: they play no part in the choice.

    .venv/bin/python benchmarks/tune_baseline.py                # 6 to 8 minutes on 2 busy cores
    .venv/bin/python benchmarks/tune_baseline.py --also-score 02 --csv tune.csv
"""

from __future__ import annotations

import argparse
import itertools
import logging
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from cosinetrack.config.sections import BaselineConfig, EvaluateConfig, LinkConfig, SimConfig
from cosinetrack.formats import ctc, ctc_layout
from cosinetrack.simulate import run_simulate
from cosinetrack.stages.baseline import run_baseline, segment_frame
from cosinetrack.stages.evaluate import score

logger = logging.getLogger("tune_baseline")

METRICS = EvaluateConfig(metrics=["SEG", "DET", "TRA"])
Axis = list[dict[str, Any]]  # the values one grid axis takes, each a partial setting


def axis(name: str, values: Iterable[Any]) -> Axis:
    """Return the grid axis of one parameter."""
    return [{name: value} for value in values]


# Stage 1: how the foreground is found. A 'local' threshold comes with its block size and offset;
# the global methods have neither.
THRESHOLDS: Axis = [
    {"threshold": "otsu"},
    {"threshold": "li"},
    {"threshold": "triangle"},
    *(
        {"threshold": "local", "block_size": block, "offset": offset}
        for block, offset in itertools.product((31, 61, 121, 241), (0.0, 0.025, 0.05, 0.1))
    ),
]
# Stage 2: how the foreground is split (seeds) and the smallest object.
SEEDS: Axis = [
    *({"seeds": "peaks", "min_distance": distance} for distance in (4, 5, 6)),
    *({"seeds": "h_maxima", "h": h} for h in (0.5, 1.0, 2.0)),
]
# Stage 1 starts from these values of the parameters it does not search, written out so that the
# result does not depend on the defaults it is meant to set.
START = {"seeds": "peaks", "min_distance": 5, "min_size": 15, "iou_threshold": 0.25}
# Each stage searches its grid around the best setting of the stages before it.
STAGES: list[list[Axis]] = [
    [THRESHOLDS, axis("sigma", (0.0, 0.5, 1.0, 2.0))],
    [SEEDS, axis("min_size", (0, 4, 8, 15, 30))],
    [axis("iou_threshold", (0.1, 0.25, 0.4, 0.6))],
]


def grid(base: dict[str, Any], axes: list[Axis]) -> list[dict[str, Any]]:
    """Return every combination of one entry per axis, each on top of `base`."""
    return [
        {**base, **{k: v for part in parts for k, v in part.items()}}
        for parts in itertools.product(*axes)
    ]


def evaluate(
    root: Path, sequence: str, cfg: BaselineConfig, work: Path
) -> tuple[dict[str, float], float]:
    """Run the baseline on one sequence and score it; return the scores and the run time (s)."""
    res_dir = work / f"{sequence}_RES"
    start = time.perf_counter()
    run_baseline(root / sequence, res_dir, cfg, LinkConfig())
    seconds = time.perf_counter() - start
    return score(res_dir, root / f"{sequence}_GT", METRICS), seconds


def search(
    root: Path, sequence: str, base: dict[str, Any], axes: list[Axis], work: Path, stage: int
) -> pd.DataFrame:
    """Score every setting of a stage on the training sequence; return one row each, best first."""
    settings = grid(base, axes)
    incumbent = BaselineConfig.model_validate(base)
    rows = []
    for number, setting in enumerate(settings, start=1):
        cfg = BaselineConfig.model_validate(setting)
        scores, seconds = evaluate(root, sequence, cfg, work)
        rows.append({**setting, **{m: scores[m] for m in METRICS.metrics}, "seconds": seconds})
        rows[-1]["incumbent"] = stage > 1 and cfg == incumbent
        headline = {m: round(scores[m], 4) for m in METRICS.metrics}
        logger.info("stage %d, %d/%d: %s %s", stage, number, len(settings), setting, headline)
    table = pd.DataFrame(rows)
    table.insert(0, "stage", stage)
    table["objective"] = table["SEG"] + table["TRA"]
    # On an exact tie the previous stage's best stays (a parameter that changes nothing is not
    # moved), then the setting listed first wins (stable sort).
    order = table.sort_values(["objective", "incumbent"], ascending=False, kind="stable")
    return order.drop(columns="incumbent")


def best_setting(table: pd.DataFrame) -> dict[str, Any]:
    """Return the best row's parameters as a full setting (empty cells: the field's default)."""
    fields = set(BaselineConfig.model_fields)
    row = table.iloc[0]
    # `.item()` turns numpy scalars into the Python numbers pydantic expects.
    setting = {
        k: row[k].item() if hasattr(row[k], "item") else row[k] for k in fields & set(row.index)
    }
    setting = {k: v for k, v in setting.items() if not pd.isna(v)}
    return BaselineConfig.model_validate(setting).model_dump(mode="json")


def frame_seconds(root: Path, sequence: str, cfg: BaselineConfig) -> float:
    """Return the mean time to segment one frame of the sequence (reading excluded)."""
    frames = [ctc.read_frame(path) for path in ctc_layout.frame_paths(root / sequence)]
    start = time.perf_counter()
    for image in frames:
        segment_frame(image, cfg)
    return (time.perf_counter() - start) / len(frames)


def main() -> None:
    """Tune on the training sequence, print the tables, the best setting and its scores."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="CTC dataset folder (default: simulate one)")
    parser.add_argument(
        "--sequence", default="01", help="training sequence to tune on; never a test sequence"
    )
    parser.add_argument(
        "--also-score", nargs="*", default=[], help="sequences scored with the result, for info"
    )
    parser.add_argument("--csv", type=Path, help="write the full table here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("cosinetrack", "ctc_metrics"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 200)

    with tempfile.TemporaryDirectory(prefix="tune_baseline.") as scratch:
        work = Path(scratch)
        root = args.data
        if root is None:
            root = work / "data"
            run_simulate(root, SimConfig())
            # The tuned values hold for this dataset: record which one it was.
            print(f"dataset: simulated, {SimConfig()!r}")
        else:
            print(f"dataset: {root}")
        tables: list[pd.DataFrame] = []
        best: dict[str, Any] = START
        for stage, axes in enumerate(STAGES, start=1):
            tables.append(search(root, args.sequence, best, axes, work, stage))
            best = best_setting(tables[-1])
        for stage, table in enumerate(tables, start=1):
            shown = min(12, len(table))
            print(f"\nStage {stage} (sequence {args.sequence}), best {shown} of {len(table)}:")
            print(table.head(shown).round(4).to_string(index=False))
        chosen = BaselineConfig.model_validate(best)
        print("\nBest setting (config.yaml):")
        print(yaml.safe_dump({"baseline": chosen.model_dump(mode="json")}, sort_keys=False))
        print(f"segmentation: {1000 * frame_seconds(root, args.sequence, chosen):.0f} ms per frame")
        for sequence in [args.sequence, *args.also_score]:
            scores, seconds = evaluate(root, sequence, chosen, work)
            note = "tuned on" if sequence == args.sequence else "information only, not tuned on"
            headline = ", ".join(f"{m} {scores[m]:.4f}" for m in METRICS.metrics)
            print(f"sequence {sequence} ({note}): {headline}; {seconds:.1f} s end to end")
        if args.csv:
            pd.concat(tables).to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
