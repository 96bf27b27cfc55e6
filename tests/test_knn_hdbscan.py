"""cosinetrack.algorithms.knn_hdbscan against fast_hdbscan, whose clustering it reproduces."""

from __future__ import annotations

import numpy as np
import pytest
from fast_hdbscan import HDBSCAN

from cosinetrack.algorithms.knn_hdbscan import hdbscan


def partition(labels: np.ndarray) -> set[frozenset[int]]:
    """The labels as a set of point groups (noise one group of its own), blind to numbering."""
    groups: dict[int, set[int]] = {}
    for point, label in enumerate(labels.tolist()):
        groups.setdefault(label if label >= 0 else -1, set()).add(point)
    return {frozenset(g) | ({-1} if label < 0 else set()) for label, g in groups.items()}


def blobs(seed: int, dim: int = 18) -> np.ndarray:
    """Points of one to five Gaussian blobs of random spread, sizes and separation."""
    rng = np.random.default_rng(seed)
    count, size = rng.integers(1, 6), rng.integers(20, 400)
    centres = rng.normal(0, rng.uniform(0.2, 2.0), (count, dim))
    spread = rng.uniform(0.05, 0.5)
    return np.concatenate([rng.normal(c, spread, (size // count + 1, dim)) for c in centres])


def reference(points: np.ndarray, mcs: int, ms: int, k: int | None, eps: float) -> np.ndarray:
    """fast_hdbscan's labels with the settings cluster.py gives every backend."""
    model = HDBSCAN(
        min_cluster_size=mcs,
        min_samples=ms,
        cluster_selection_epsilon=eps,
        allow_single_cluster=True,
        algorithm="kruskal",
        knn_k=k,
    )
    return model.fit_predict(points)


@pytest.mark.parametrize("seed", range(40))
def test_same_clusters_as_fast_hdbscan_on_its_neighbour_graph(seed: int) -> None:
    points = blobs(seed)
    rng = np.random.default_rng(1000 + seed)
    mcs, ms = int(rng.choice([5, 10, 20, 40])), int(rng.choice([1, 3, 5]))
    eps = float(rng.choice([0.0, 0.1, 0.2, 1.0]))
    expected = reference(points, mcs, ms, 8, eps)
    assert partition(hdbscan(points, mcs, ms, 8, eps)) == partition(expected)


@pytest.mark.parametrize("seed", range(10))
def test_same_clusters_as_fast_hdbscan_on_the_exact_tree(seed: int) -> None:
    points = blobs(seed, dim=4)[:250]
    expected = reference(points, 10, 5, None, 0.2)
    assert partition(hdbscan(points, 10, 5, len(points) - 1, 0.2)) == partition(expected)


def test_groups_no_neighbour_edge_joins_stay_apart() -> None:
    rng = np.random.default_rng(7)
    near = rng.normal(0, 0.1, (30, 3))
    points = np.concatenate([near, near + 100.0, rng.normal(50, 0.1, (3, 3))])  # 2 groups, 3 strays
    labels = hdbscan(points, 10, 5, 8, 0.2)
    assert partition(labels) == partition(reference(points, 10, 5, 8, 0.2))
    assert len(set(labels[:30])) == len(set(labels[30:60])) == 1
    assert labels[0] != labels[30] and min(labels[:60]) >= 0


def test_a_group_that_never_splits_is_noise_as_in_fast_hdbscan() -> None:
    """No split, no cluster to select: all noise (cluster.py then makes the region one instance)."""
    points = np.random.default_rng(3).normal(0, 0.1, (60, 5))
    assert (reference(points, 20, 5, 8, 0.2) == -1).all()
    assert (hdbscan(points, 20, 5, 8, 0.2) == -1).all()
    assert (hdbscan(points[:5], 2, 5, 8, 0.0) == -1).all()  # no more points than min_samples


@pytest.mark.parametrize("min_samples", [1, 5])
def test_duplicate_points_cluster_as_in_fast_hdbscan(min_samples: int) -> None:
    """Zero distances (infinite lambdas) are handled as the library handles them."""
    rng = np.random.default_rng(0)
    copies = np.repeat(rng.normal(0, 1, (5, 4)), 12, axis=0)  # five points, twelve copies each
    for points in (copies, np.concatenate([copies, rng.normal(3, 0.1, (40, 4))])):
        expected = reference(points, 10, min_samples, 8, 0.2)
        assert partition(hdbscan(points, 10, min_samples, 8, 0.2)) == partition(expected)
