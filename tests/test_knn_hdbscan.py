"""cosinetrack.algorithms.knn_hdbscan against the libraries whose clustering it reproduces.

fast_hdbscan, hdbscan and scikit-learn are test-time references only (pyproject's `dev` extra):
the runtime clusters with knn_hdbscan alone.
"""

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


def blobs(seed: int, dim: int = 18, fewest: int = 1) -> np.ndarray:
    """Points of `fewest` to five Gaussian blobs of random spread, sizes and separation."""
    rng = np.random.default_rng(seed)
    count, size = rng.integers(fewest, 6), rng.integers(20, 400)
    centres = rng.normal(0, rng.uniform(0.2, 2.0), (count, dim))
    spread = rng.uniform(0.05, 0.5)
    return np.concatenate([rng.normal(c, spread, (size // count + 1, dim)) for c in centres])


def reference(
    points: np.ndarray, mcs: int, ms: int, k: int | None, eps: float, single: bool = True
) -> np.ndarray:
    """fast_hdbscan's labels with the settings cluster.py gives knn_hdbscan."""
    model = HDBSCAN(
        min_cluster_size=mcs,
        min_samples=ms,
        cluster_selection_epsilon=eps,
        allow_single_cluster=single,
        algorithm="kruskal",
        knn_k=k,
    )
    return model.fit_predict(points)


@pytest.mark.parametrize("single", [True, False])
@pytest.mark.parametrize("seed", range(40))
def test_same_clusters_as_fast_hdbscan_on_its_neighbour_graph(seed: int, single: bool) -> None:
    points = blobs(seed)
    rng = np.random.default_rng(1000 + seed)
    mcs, ms = int(rng.choice([5, 10, 20, 40])), int(rng.choice([1, 3, 5]))
    # Without a single cluster, epsilon stops below the root here but not in fast_hdbscan:
    # see test_without_a_single_cluster_epsilon_stops_below_the_root_as_in_hdbscan
    eps = float(rng.choice([0.0, 0.1, 0.2, 1.0])) if single else 0.0
    expected = reference(points, mcs, ms, 8, eps, single)
    assert partition(hdbscan(points, mcs, ms, 8, eps, single)) == partition(expected)


@pytest.mark.parametrize("single", [True, False])
@pytest.mark.parametrize("seed", range(10))
def test_same_clusters_as_fast_hdbscan_on_the_exact_tree(seed: int, single: bool) -> None:
    points = blobs(seed, dim=4)[:250]
    eps = 0.2 if single else 0.0
    expected = reference(points, 10, 5, None, eps, single)
    found = hdbscan(points, 10, 5, len(points) - 1, eps, single)
    assert partition(found) == partition(expected)


def test_without_a_single_cluster_epsilon_stops_below_the_root_as_in_hdbscan() -> None:
    """fast_hdbscan's epsilon climbs to the root even when a single cluster is not allowed;
    hdbscan (the reference implementation's library) stops below it, and so does knn_hdbscan."""
    from hdbscan import HDBSCAN as Reference

    rng = np.random.default_rng(8)
    points = np.concatenate([rng.normal(c, 0.2, (60, 3)) for c in (0.0, 0.6, 5.0)])
    for eps in (0.0, 0.5, 2.0, 10.0):
        model = Reference(10, 5, cluster_selection_epsilon=eps, algorithm="prims_kdtree")
        found = hdbscan(points, 10, 5, len(points) - 1, eps, single=False)
        assert partition(found) == partition(model.fit_predict(points)), eps
        assert len(set(found.tolist()) - {-1}) >= 2, eps


def test_without_a_single_cluster_a_row_of_close_groups_splits() -> None:
    """Four close groups (a packed row of cells): the root outweighs the splits if it may be
    chosen, and is one cluster; without a single cluster the groups come apart (the rods case)."""
    rng = np.random.default_rng(5)
    points = np.concatenate([rng.normal((1.5 * i, 0.0), 0.3, (80, 2)) for i in range(4)])
    assert len(set(hdbscan(points, 40, 5, 8, 0.0, single=True).tolist()) - {-1}) == 1
    labels = hdbscan(points, 40, 5, 8, 0.0, single=False)
    assert len(set(labels.tolist()) - {-1}) == 4
    assert partition(labels) == partition(reference(points, 40, 5, 8, 0.0, single=False))


@pytest.mark.parametrize("seed", range(20))
def test_same_clusters_as_hdbscan_and_scikit_learn_on_the_exact_tree(seed: int) -> None:
    """Where the root splits; where it never does, they keep one cluster, knn_hdbscan none.

    hdbscan's Boruvka resolves equal distances otherwise, so its exact Prim's tree is the
    reference. scikit-learn counts a point as its own first neighbour (its min_samples is one
    larger) and fails with a selection epsilon under numpy 2 (scikit-learn 1.9.1): epsilon 0.
    """
    from hdbscan import HDBSCAN as Reference
    from sklearn.cluster import HDBSCAN as ScikitLearn

    points = blobs(seed, dim=4, fewest=2)[:250]
    rng = np.random.default_rng(2000 + seed)
    mcs, ms = int(rng.choice([5, 10, 20])), int(rng.choice([1, 3, 5]))
    settings = {"min_cluster_size": mcs, "allow_single_cluster": True}
    prims = {"algorithm": "prims_kdtree"}
    models = [
        (eps, Reference(min_samples=ms, cluster_selection_epsilon=eps, **prims, **settings))
        for eps in (0.0, 0.2)
    ]
    models.append((0.0, ScikitLearn(min_samples=ms + 1, copy=True, **settings)))
    for eps, model in models:
        found, expected = hdbscan(points, mcs, ms, len(points) - 1, eps), model.fit_predict(points)
        if (found < 0).all():  # the root never split (test_a_group_that_never_splits...)
            assert len(set(expected.tolist()) - {-1}) <= 1, model
        else:
            assert partition(found) == partition(expected), model


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
