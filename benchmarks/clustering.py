"""Clustering choices side by side: time, points per second, and the SEG/DET/TRA each one scores.

Run after the workflow (it reuses the embeddings and prep stores the workflow wrote):

    .venv/bin/python benchmarks/clustering.py --run . --dataset sim --sequence 02

For every scope (`pair`: every foreground pixel of a frame pair at once; `component`: each
connected foreground component on its own), subsample (1: every pixel; 2: every second row and
column, the rest joining their nearest clustered pixel) and spanning tree (`knn_graph` 0: exact;
8: from each point's 8 nearest neighbours) it clusters all frame pairs (one single-thread job) with
the config's other cluster settings, links them with the config's link settings and scores the
result with py-ctcmetrics against the sequence's ground truth. Each row gives HDBSCAN's first call
in a process (paid once per clustering job: imports, numba compilation), the warm clustering
seconds per pair, the foreground points clustered per second, the metrics, the difference of SEG,
TRA and CHOTA from the exact tree on every pixel of the pair (the first row: the clusters plain
`hdbscan` finds, tests/test_knn_hdbscan.py), and whether all three stay within 0.005 of it (the
condition for a default: SEG and TRA alone miss short false tracks, which CHOTA and MOTA count).
Rows go to benchmarks/out/clustering.csv and are printed. Run it alone: timings on 2 cores are
sensitive to any other load.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pydantic
import torch
import yaml
import zarr

from cosinetrack.config.sections import ClusterConfig, EvaluateConfig, LinkConfig
from cosinetrack.config.settings import read_settings
from cosinetrack.dag import paths
from cosinetrack.stages.cluster import hdbscan_labels, run_cluster, run_gather_pairs
from cosinetrack.stages.evaluate import score
from cosinetrack.stages.link import run_link

REPO = Path(__file__).resolve().parents[1]
SCOPES = ("pair", "component")
SUBSAMPLES = (1, 2)
KNN_GRAPHS = (0, 8)  # spanning tree over all pairs (0) or the 8-NN graph
TOLERANCE = 0.005
METRICS = ("SEG", "DET", "TRA", "LNK", "BC(1)", "CHOTA", "MOTA", "IDF1")


def rounded(value: object) -> object:
    """Floats to 4 decimals for printing and the CSV."""
    return round(value, 4) if isinstance(value, float) else value


def variant(
    cfg: ClusterConfig, link: LinkConfig, stores: dict[str, Path], work: Path
) -> dict[str, float]:
    """Cluster, link and score one clustering setting; seconds and points from the chunk store."""
    chunk, pairs, res = work / "chunk.zarr", work / "pairs.zarr", work / "01_RES"
    for path in (chunk, pairs, res):
        shutil.rmtree(path, ignore_errors=True)
    every_pair = zarr.open_group(stores["embeddings"], mode="r")["embedding"].shape[0]
    one_job = cfg.model_copy(update={"chunk_pairs": every_pair})
    run_cluster(stores["embeddings"], chunk, one_job, 0)
    attrs = zarr.open_group(chunk, mode="r").attrs
    run_gather_pairs([chunk], pairs)
    run_link(pairs, stores["prep"], res, link)
    metrics = score(res, stores["gt"], EvaluateConfig())
    seconds, points = sum(attrs["seconds"]), sum(attrs["points"])
    return {
        "pairs": len(attrs["seconds"]),
        "s_per_pair": seconds / len(attrs["seconds"]),
        "points_per_pair": points / len(attrs["points"]),
        "points_per_s": points / seconds,
        **{key: metrics[key] for key in METRICS},
    }


def first_call(cfg: ClusterConfig) -> float:
    """Seconds of HDBSCAN's first call in a process (imports, numba compilation), paid per job."""
    points = np.random.default_rng(0).normal(size=(500, 18))
    start = time.perf_counter()
    hdbscan_labels(points, cfg)
    return time.perf_counter() - start


def compare(settings: dict, stores: dict[str, Path], work: Path) -> list[dict]:
    """Every scope, subsample and spanning tree; differences from the exact tree per pair.

    The exact tree on every pixel of the pair is the first row. HDBSCAN is called once before
    the rows are timed, so that no row pays the first-call cost (its own column).
    """
    link = LinkConfig(**settings.get("link", {}))
    first = first_call(ClusterConfig(**{**settings.get("cluster", {}), "knn_graph": 0}))
    rows: list[dict] = []
    for scope, subsample, knn_graph in itertools.product(SCOPES, SUBSAMPLES, KNN_GRAPHS):
        name = {"scope": scope, "subsample": subsample, "knn_graph": knn_graph}
        try:
            cfg = ClusterConfig(**{**settings.get("cluster", {}), **name})
            rows.append({**name, "first_call_s": first, **variant(cfg, link, stores, work)})
        except pydantic.ValidationError as error:
            rows.append({**name, "note": str(error.errors()[0]["msg"])})
        except MemoryError as error:  # an exact tree too large for this machine
            rows.append({**name, "note": str(error)})
        print({k: rounded(v) for k, v in rows[-1].items()}, flush=True)
    plain = rows[0]
    for line in rows:
        if "SEG" not in line or "SEG" not in plain:
            continue
        for key in ("SEG", "TRA", "CHOTA"):
            line[f"d{key}"] = line[key] - plain[key]
        line["speedup"] = plain["s_per_pair"] / line["s_per_pair"]
        changes = (line["dSEG"], line["dTRA"], line["dCHOTA"])
        line["same_answers"] = max(abs(change) for change in changes) <= TOLERANCE
    return rows


def main() -> None:
    """Run the comparison and write the CSV."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("."), help="the workflow's directory")
    parser.add_argument("--config", type=Path, default=REPO / "config.yaml")
    parser.add_argument("--dataset", default="sim")
    parser.add_argument("--sequence", default="02")
    parser.add_argument("--gt", type=Path, help="default: resources/datasets/DATASET/SEQ_GT")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/out/clustering.csv")
    args = parser.parse_args()
    torch.set_num_threads(1)
    where = {"dataset": args.dataset, "seq": args.sequence}
    stores = {
        "embeddings": args.run / paths.EMBEDDINGS.format(**where),
        "prep": args.run / paths.PREP.format(**where),
        "gt": args.gt or args.run / paths.SIMULATED.format(**where) / f"{args.sequence}_GT",
    }
    for name, path in stores.items():
        if not path.exists():
            parser.error(f"{name}: {path} does not exist; run the workflow first")
    # The settings the workflow clustered and linked with: the model folder's, then the config's.
    settings = {section: {} for section in ("cluster", "link")}
    for name in ("settings.yaml", "postprocess.yaml"):
        chosen = read_settings(args.run / paths.TIMELAPSE_FIT.model_folder.format(**where) / name)
        for section, values in settings.items():
            values.update(chosen.get(section) or {})
    for section, values in settings.items():
        values.update((yaml.safe_load(args.config.read_text()) or {}).get(section) or {})
    with tempfile.TemporaryDirectory(prefix="cosinetrack-clustering-") as work:
        rows = compare(settings, stores, Path(work))
    columns = ["scope", "subsample", "knn_graph", "first_call_s", "pairs", "s_per_pair"]
    columns += ["points_per_pair", "points_per_s"]
    columns += ["speedup", *METRICS, "dSEG", "dTRA", "dCHOTA", "same_answers", "note"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for line in rows:
            writer.writerow({k: rounded(v) for k, v in line.items()})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
