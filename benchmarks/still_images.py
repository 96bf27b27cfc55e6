"""The still-image workflow on a real annotated image, against the classical baseline.

    .venv/bin/python benchmarks/still_images.py                 # 200 training iterations
    .venv/bin/python benchmarks/still_images.py --iterations 1200 --cores 2

The stardist 0.9.2 wheel's 512x512 Data Science Bowl 2018 nucleus image with its human mask is
fetched with pip into resources/cache/ (once) and cut into quadrants
(`cosinetrack.stills.simulate.quadrant_split`): the two left quadrants train (split 01), the top
right chooses checkpoint and clustering (03), the bottom right is scored (02), so nothing is chosen
on the scored area. The workflow then runs on a config that names this dataset and sets only the
training length and the CPU (`snakemake --directory <workdir> --configfile <workdir>/config.yaml
--cores N`, output in `<workdir>/snakemake.log`). Pooled F1 at IoU 0.5, mean matched IoU and SEG of
both methods on the scored quadrant, with the workflow's wall time, go to
benchmarks/out/still_images.csv and are printed as markdown.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

from cosinetrack.dag import paths
from cosinetrack.formats import public_data
from cosinetrack.stills.simulate import quadrant_split

logger = logging.getLogger("still_images")

REPO = Path(__file__).resolve().parents[1]
NAME = "stardist-dsb2018"


def prepare(data: Path) -> Path:
    """The real image as a still-image dataset (quadrants in splits 01, 03, 02); made once."""
    stills = data / f"{NAME}-quadrants"
    if not stills.is_dir():
        ctc_folder = public_data.prepare(NAME, data / NAME, REPO / "resources/cache")
        partial = stills.with_name(stills.name + ".partial")
        quadrant_split(ctc_folder / "01", partial)
        partial.rename(stills)
    return stills


def main() -> None:
    """Prepare the data, run the workflow, gather the scores."""
    parser = argparse.ArgumentParser(description=__doc__, allow_abbrev=False)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=REPO / "results/still_images_benchmark")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/out/still_images.csv")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    stills = prepare(REPO / "resources/datasets")
    args.workdir.mkdir(parents=True, exist_ok=True)
    config = {
        "datasets": {
            "dsb": {
                "kind": "images",
                "path": str(stills),
                "train": ["01"],
                "validation": ["03"],
                "test": ["02"],
            }
        },
        "train": {"iterations": args.iterations, "device": "cpu"},
        "infer": {"device": "cpu"},
    }
    (args.workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]
    command += ["--directory", str(args.workdir), "--configfile", str(args.workdir / "config.yaml")]
    command += ["--cores", str(args.cores)]
    logger.info("running %s", " ".join(command))
    start = time.perf_counter()
    with (args.workdir / "snakemake.log").open("w") as log:
        subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True)
    wall = round(time.perf_counter() - start, 1)
    scores = pd.read_csv(args.workdir / paths.IMAGE_METRICS.format(dataset="dsb", seq="02"))
    table = scores[scores["image"] == "all"][["method", "f1", "mean_matched_iou", "seg"]]
    train_tsv = paths.benchmark("images_train").format(dataset="dsb")
    train_s = pd.read_csv(args.workdir / train_tsv, sep="\t")
    table = table.assign(
        wall_s=wall, train_s=float(train_s["s"].iloc[0]), iterations=args.iterations
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.round(4).to_markdown(index=False))


if __name__ == "__main__":
    main()
