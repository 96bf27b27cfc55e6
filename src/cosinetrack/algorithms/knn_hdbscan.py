"""HDBSCAN on the k-nearest-neighbour graph, sized for the small regions of a frame pair.

The same clustering as fast_hdbscan's `HDBSCAN(algorithm="kruskal", knn_k=k)` with excess-of-mass
selection, `allow_single_cluster` on or off and a selection epsilon (tested against it; without a
single cluster the epsilon stops below the root as in hdbscan, where fast_hdbscan climbs to it),
written here for what a cluster job pays around the clustering: fast_hdbscan imports scikit-learn
for its estimator (about 1 s per job), checks its input twice per call and queries neighbours with
a threaded kd-tree (a pair of the default data is ~20 regions of ~400 points, so per-call costs
dominate), and its numba code compiles for about 50 s after each install. Here neighbours come from
scipy's kd-tree and the tree walks are a few small numba loops (compiled once, in seconds, by the
warm-up rule).
With k = N - 1 the graph holds every pair of points: the exact tree, on which hdbscan and
scikit-learn find the same clusters (tested), in memory that grows with N squared.

Steps, as in Campello et al. (2013) and McInnes et al. (2017): core distance = distance to the
min_samples-th neighbour; spanning forest of the neighbour graph under the mutual reachability
distance, its parts joined by infinite edges; single-linkage tree; condensed tree (splits into two
parts of at least min_cluster_size points make new clusters, smaller parts fall out as points);
excess-of-mass selection; clusters born closer than epsilon are replaced by their first ancestor
born farther apart.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree


def neighbour_edges(
    points: np.ndarray, min_samples: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges (row, col, mutual reachability distance) to each point's k nearest neighbours."""
    n = len(points)
    query = min(max(k, min_samples) + 1, n)  # + 1: each point is its own first neighbour
    distance, index = cKDTree(points).query(points, k=query)  # (N, query) each, self first
    core = distance[:, min_samples] if min_samples > 1 else np.zeros(n)  # (N,)
    rows = np.repeat(np.arange(n), query - 1)
    cols = index[:, 1:].ravel()
    reach = np.maximum(np.maximum(core[rows], core[cols]), distance[:, 1:].ravel())
    apart = rows != cols  # a duplicate point can come before a point itself
    return rows[apart], cols[apart], reach[apart]


@numba.njit(cache=True)
def _root(parent: np.ndarray, node: int) -> int:
    """Root of `node` in a union-find forest, halving the path on the way."""
    while parent[node] != node:
        parent[node] = parent[parent[node]]
        node = parent[node]
    return node


@numba.njit(cache=True)
def spanning_forest(
    rows: np.ndarray, cols: np.ndarray, weight: np.ndarray, order: np.ndarray, n: int
) -> np.ndarray:
    """Kruskal's minimum spanning forest (M, 3) [row, col, weight] of edges taken in `order`."""
    parent = np.arange(n)
    edges = np.empty((n - 1, 3))
    count = 0
    for e in order:
        a, b = _root(parent, rows[e]), _root(parent, cols[e])
        if a != b:
            parent[b] = a
            edges[count, 0], edges[count, 1], edges[count, 2] = rows[e], cols[e], weight[e]
            count += 1
            if count == n - 1:
                break
    return edges[:count]


def spanning_tree(rows: np.ndarray, cols: np.ndarray, weight: np.ndarray, n: int) -> np.ndarray:
    """The (N - 1, 3) spanning tree: Kruskal's forest, its parts chained by infinite edges.

    Ties keep the edge list's order (a stable sort) and parts are chained in order of their
    smallest point, as in fast_hdbscan, so that equal distances resolve alike.
    """
    forest = spanning_forest(rows, cols, weight, np.argsort(weight, kind="stable"), n)
    if len(forest) == n - 1:
        return forest
    joined = coo_matrix((np.ones(len(forest)), (forest[:, 0], forest[:, 1])), shape=(n, n))
    part = connected_components(joined, directed=False)[1]
    firsts = np.sort(np.unique(part, return_index=True)[1])  # smallest point of each part
    bridges = np.column_stack([firsts[:-1], firsts[1:], np.full(len(firsts) - 1, np.inf)])
    return np.concatenate([forest, bridges])


@numba.njit(cache=True)
def linkage_tree(tree: np.ndarray) -> np.ndarray:
    """Single-linkage merges (N - 1, 4) [larger id, smaller id, distance, size] of tree edges.

    Edges must come sorted by (weight, row, col); node N + i is the part made by merge i.
    """
    n = len(tree) + 1
    parent = np.arange(2 * n - 1)
    size = np.ones(2 * n - 1, dtype=np.int64)
    merges = np.empty((n - 1, 4))
    for i in range(n - 1):
        a = _root(parent, np.int64(tree[i, 0]))
        b = _root(parent, np.int64(tree[i, 1]))
        merges[i, 0], merges[i, 1] = max(a, b), min(a, b)
        merges[i, 2], merges[i, 3] = tree[i, 2], size[a] + size[b]
        parent[a] = n + i
        parent[b] = n + i
        size[n + i] = size[a] + size[b]
    return merges


@numba.njit(cache=True)
def condense(
    merges: np.ndarray, min_cluster_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Walk the merges from the root down, breadth first, into the condensed tree.

    Returns per point the cluster it falls out of and the lambda (1 / distance) at which it does,
    and per cluster (numbered in order of birth, 0 the root) its parent, birth lambda and size.
    """
    n = len(merges) + 1
    cluster = np.zeros(2 * n - 1, dtype=np.int64)  # the cluster each node's points belong to
    falls = np.full(2 * n - 1, -1.0)  # lambda at which the node's points left it; < 0: still in
    parent = np.full(n, -1, dtype=np.int64)
    birth = np.zeros(n)
    size = np.zeros(n, dtype=np.int64)
    size[0], count = n, 1
    queue = np.empty(2 * n - 1, dtype=np.int64)
    queue[0], head, tail = 2 * n - 2, 0, 1
    while head < tail:
        node = queue[head]
        head += 1
        if node < n:
            continue
        left, right, distance, _ = merges[node - n]
        lam = 1.0 / distance if distance > 0.0 else np.inf
        children = np.array([left, right], dtype=np.int64)
        sizes = np.ones(2, dtype=np.int64)
        for i in range(2):
            if children[i] >= n:
                sizes[i] = np.int64(merges[children[i] - n, 3])
        split = sizes.min() >= min_cluster_size and falls[node] < 0
        for i in range(2):
            child, child_size = children[i], sizes[i]
            queue[tail] = child
            tail += 1
            if split:
                cluster[child] = count
                parent[count], birth[count], size[count] = cluster[node], lam, child_size
                count += 1
            else:
                cluster[child] = cluster[node]
                falls[child] = (
                    falls[node]
                    if falls[node] >= 0
                    else (lam if child_size < min_cluster_size else -1.0)
                )
    return cluster[:n], falls[:n], parent[:count], birth[:count], size[:count]


def stabilities(
    point_cluster: np.ndarray,
    point_lambda: np.ndarray,
    parent: np.ndarray,
    birth: np.ndarray,
    size: np.ndarray,
) -> np.ndarray:
    """Excess of mass of each cluster: sum over its points of (lambda left - lambda born)."""
    count = len(parent)
    score = np.bincount(point_cluster, weights=point_lambda, minlength=count)
    score += np.bincount(parent[1:], weights=birth[1:] * size[1:], minlength=count)
    return score - birth * size


@numba.njit(cache=True)
def excess_of_mass(score: np.ndarray, parent: np.ndarray, single: bool) -> np.ndarray:
    """Clusters chosen by excess of mass (the root only if `single`): a parent wins ties."""
    count = len(parent)
    best = np.zeros(count)
    below = np.zeros(count)
    chosen = np.zeros(count, dtype=np.bool_)
    for c in range(count - 1, -1, -1):  # children are born after their parents
        own = max(score[c], 0.0)
        chosen[c] = below[c] <= own and (c > 0 or single)
        best[c] = own if chosen[c] else below[c]
        if c > 0:
            below[parent[c]] += best[c]
    covered = np.zeros(count, dtype=np.bool_)
    for c in range(1, count):
        covered[c] = covered[parent[c]] or chosen[parent[c]]
    return np.nonzero(chosen & ~covered)[0]


def widen_to_epsilon(
    selected: np.ndarray, parent: np.ndarray, birth: np.ndarray, epsilon: float, single: bool
) -> np.ndarray:
    """Replace each cluster born closer than epsilon by its first ancestor born farther apart.

    Without `single` the climb stops below the root, as in the libraries.
    """
    born_apart = np.divide(1.0, birth, out=np.full_like(birth, np.inf), where=birth > 0)
    widened = set()
    for c in selected.tolist():
        while c != 0 and born_apart[c] < epsilon and (single or parent[c] != 0):
            c = int(parent[c])
        widened.add(c)
    return np.array(sorted(widened), dtype=np.int64)


def point_labels(
    point_cluster: np.ndarray,
    point_lambda: np.ndarray,
    parent: np.ndarray,
    birth: np.ndarray,
    selected: np.ndarray,
    epsilon: float,
) -> np.ndarray:
    """Label of each point: its nearest selected ancestor cluster's rank, -1 for noise.

    Points that fell out at lambda 0 (joined only by infinite edges) are noise. When the root is
    the only cluster, a point belongs to it when it fell out within epsilon (epsilon > 0), or
    else at the root's largest lambda, as in the reference implementations.
    """
    rank = np.full(len(parent), -1, dtype=np.int64)
    rank[selected] = np.arange(len(selected))
    owner = rank.copy()  # each cluster's label: its own, else its nearest selected ancestor's
    for c in range(1, len(parent)):
        if owner[c] < 0:
            owner[c] = owner[parent[c]]
    labels = owner[point_cluster]
    if len(selected) == 1 and selected[0] == 0:
        if epsilon > 0:
            inside = point_lambda >= 1.0 / epsilon
        else:
            inside = point_lambda >= root_lambda_max(point_cluster, point_lambda, parent, birth)
        labels = np.where(inside, labels, -1)
    elif 0 in selected:
        labels[owner[point_cluster] == rank[0]] = -1
    labels[point_lambda == 0.0] = -1
    return labels


def root_lambda_max(
    point_cluster: np.ndarray, point_lambda: np.ndarray, parent: np.ndarray, birth: np.ndarray
) -> float:
    """The largest lambda of anything leaving the root: a point, or a cluster's birth."""
    points = point_lambda[point_cluster == 0].max(initial=0.0)
    return float(max(points, birth[parent == 0].max(initial=0.0)))


def hdbscan(
    points: np.ndarray,
    min_cluster_size: int,
    min_samples: int,
    k: int = 8,
    epsilon: float = 0.0,
    single: bool = True,
) -> np.ndarray:
    """HDBSCAN labels (N,) of points (N, F) on their k-nearest-neighbour graph; -1 marks noise.

    `single` is the libraries' `allow_single_cluster`: whether all points may form one cluster.
    """
    n = len(points)
    if n <= min_samples:
        return np.full(n, -1, dtype=np.int64)
    rows, cols, reach = neighbour_edges(np.asarray(points, dtype=np.float64), min_samples, k)
    tree = spanning_tree(rows, cols, reach, n)
    tree = tree[np.lexsort((tree[:, 1], tree[:, 0], tree[:, 2]))]
    merges = linkage_tree(tree)
    point_cluster, point_lambda, parent, birth, size = condense(merges, min_cluster_size)
    if len(parent) == 1:  # the root never splits: no cluster to select
        return np.full(n, -1, dtype=np.int64)
    score = stabilities(point_cluster, point_lambda, parent, birth, size)
    selected = excess_of_mass(score, parent, single)
    if len(selected) > 1 and epsilon > 0:
        selected = widen_to_epsilon(selected, parent, birth, epsilon, single)
    return point_labels(point_cluster, point_lambda, parent, birth, selected, epsilon)
