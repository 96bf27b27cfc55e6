"""This package's HDBSCAN against fast_hdbscan on the regions a real run clusters.

Takes a finished run's dataset folder (results/<dataset>: its model folder's settings and a test
sequence's embeddings), cuts every frame pair into the connected foreground regions the cluster
stage clusters one by one, clusters each with `cosinetrack.algorithms.knn_hdbscan` and with
fast_hdbscan's HDBSCAN on the same k-nearest-neighbour graph, and prints how many regions the two
partition differently and the seconds each took in all (both warm: one call each first).

    .venv/bin/python benchmarks/knn_hdbscan.py results/sim --sequence 02
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from fast_hdbscan import HDBSCAN

from cosinetrack.algorithms.knn_hdbscan import hdbscan
from cosinetrack.config.sections import ClusterConfig
from cosinetrack.config.settings import stage_config
from cosinetrack.formats.store import open_store
from cosinetrack.stages.cluster import (
    check_embeddings,
    foreground,
    foreground_regions,
    pair_features,
    too_few_points,
)


def regions(run: Path, sequence: str, cfg: ClusterConfig) -> list[np.ndarray]:
    """Feature rows of every foreground region of every pair that HDBSCAN is called on."""
    path = run / "embeddings" / f"{sequence}.zarr"
    group = open_store(path, "embeddings")
    background = check_embeddings(group, path)
    found = []
    for t in range(group["embedding"].shape[0]):
        unit = np.asarray(group["embedding"][t], dtype=np.float32)  # (2, D, H, W)
        mask = foreground(unit, background, cfg.background_threshold)
        for box, inside in foreground_regions(mask):
            rows = pair_features(unit[box[0], :, box[1], box[2]], inside, cfg.coordinate_factor)
            if not too_few_points(len(rows), cfg):
                found.append(rows.astype(np.float64))
    return found


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two labellings group the points alike (noise as noise), whatever the numbers."""
    if not np.array_equal(a < 0, b < 0):
        return False
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def compare(found: list[np.ndarray], cfg: ClusterConfig) -> dict[str, float]:
    """Differing regions and total seconds of both implementations."""
    settings = (cfg.min_cluster_size, cfg.min_samples, cfg.knn_graph, cfg.selection_epsilon)
    reference = HDBSCAN(
        min_cluster_size=cfg.min_cluster_size,
        min_samples=cfg.min_samples,
        cluster_selection_epsilon=cfg.selection_epsilon,
        allow_single_cluster=True,
        algorithm="kruskal",
        knn_k=cfg.knn_graph,
    )
    reference.fit_predict(found[0]), hdbscan(found[0], *settings)  # compile / load caches
    ours = theirs = 0.0
    differing = 0
    for rows in found:
        start = time.perf_counter()
        expected = reference.fit_predict(rows)
        middle = time.perf_counter()
        got = hdbscan(rows, *settings)
        ours += time.perf_counter() - middle
        theirs += middle - start
        differing += not same_partition(expected, got)
    return {"regions": len(found), "differing": differing, "fast_hdbscan_s": theirs, "ours_s": ours}


def main() -> None:
    """Compare on one sequence of a run and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="results/<dataset> of a finished run")
    parser.add_argument("--sequence", default="02")
    args = parser.parse_args()
    model = args.run / "model"
    chosen = [model / "settings.yaml", model / "postprocess.yaml"]
    cfg = stage_config(ClusterConfig, "cluster", {}, chosen, {})
    found = regions(args.run, args.sequence, cfg)
    result = compare(found, cfg)
    print(
        f"{args.run} {args.sequence}: k={cfg.knn_graph}, min_cluster_size "
        f"{cfg.min_cluster_size}, median region {int(np.median([len(r) for r in found]))} points"
    )
    print(
        f"{result['differing']} of {result['regions']} regions partitioned differently; "
        f"fast_hdbscan {result['fast_hdbscan_s']:.2f} s, cosinetrack.algorithms.knn_hdbscan "
        f"{result['ours_s']:.2f} s"
    )


if __name__ == "__main__":
    main()
