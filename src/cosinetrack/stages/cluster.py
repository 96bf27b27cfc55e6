"""Clustering of consecutive frame pairs: embeddings plus pixel coordinates, grouped by HDBSCAN.

Each pair (t, t+1) is clustered jointly, so a cell's pixels in both frames fall into one cluster
when the network kept its embedding over time; the shared frame then links pairs into tracks.
Foreground is every pixel whose unit embedding is not aligned with the background direction,
which training measured once as the mean embedding of background pixels (see `train`). Because the
direction is fixed per model, pairs are independent and any chunking of a sequence into jobs gives
the same labels.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numba
import numpy as np
import zarr
from scipy import ndimage
from scipy.spatial import cKDTree
from tqdm import tqdm

from cosinetrack.algorithms import knn_hdbscan
from cosinetrack.config.sections import ClusterConfig
from cosinetrack.dag.paths import chunk_count, chunk_pair_range
from cosinetrack.dag.provenance import provenance
from cosinetrack.formats.atomic import atomic_file, atomic_path, atomic_zip
from cosinetrack.formats.store import open_store

logger = logging.getLogger(__name__)

# 18-connectivity in the (2, H, W) volume: a cell that overlaps itself between t and t+1 stays one
# component, as in the reference.
PAIR_CONNECTIVITY = ndimage.generate_binary_structure(3, 2)


def background_cosine(unit: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Cosine (..., H, W) of each pixel's unit embedding (..., D, H, W) to the background."""
    return np.einsum("...dhw,d->...hw", unit, background)


def foreground(unit: np.ndarray, background: np.ndarray, threshold: float) -> np.ndarray:
    """Pixels (..., H, W) whose unit embedding (..., D, H, W) has cosine <= threshold to bg."""
    return background_cosine(unit, background) <= threshold


def pair_features(unit: np.ndarray, mask: np.ndarray, coordinate_factor: float) -> np.ndarray:
    """Rows [embedding (D), y * c, x * c] for the foreground pixels of a pair (2, D, H, W)."""
    t, y, x = np.nonzero(mask)  # each (N,)
    embedding = unit.transpose(0, 2, 3, 1)[t, y, x]  # (N, D)
    coords = np.stack([y, x], axis=1).astype(np.float32) * np.float32(coordinate_factor)  # (N, 2)
    return np.concatenate([embedding, coords], axis=1)  # (N, D + 2)


def too_few_points(count: int, cfg: ClusterConfig) -> bool:
    """Whether HDBSCAN cannot find a cluster among `count` points (they are all noise)."""
    return count < max(cfg.min_cluster_size, cfg.min_samples + 1)


# Peak bytes per point pair of one exact-tree HDBSCAN call (knn_graph 0): the kd-tree's (N, N)
# distances and indices, then N * (N - 1) edges (both ends, mutual reachability and its
# temporaries) and their sort order. tracemalloc measured 65 for 500 to 2000 points of 18 columns.
EXACT_TREE_BYTES_PER_PAIR = 72


def memory_bytes() -> int:
    """The machine's physical memory: what an exact tree may need at most."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_exact_tree_fits(count: int) -> None:
    """Refuse an exact tree over `count` points whose point pairs would not fit in memory.

    The bound is the whole machine's memory, not what is free: it stops a call that cannot
    succeed (the exact tree grows with the square of the points) before it allocates anything.
    """
    need, have = EXACT_TREE_BYTES_PER_PAIR * count * count, memory_bytes()
    if need > have:
        raise MemoryError(
            f"cluster.knn_graph: 0 (the exact spanning tree over all point pairs) would need about "
            f"{need / 2**30:,.1f} GiB for the {count:,} points of one HDBSCAN call "
            f"({EXACT_TREE_BYTES_PER_PAIR} bytes per point pair), more than this machine's "
            f"{have / 2**30:,.1f} GiB; set cluster.knn_graph to 8 (the default), or cluster fewer "
            "points at once (cluster.scope: component, cluster.subsample: 2)"
        )


def hdbscan_labels(features: np.ndarray, cfg: ClusterConfig) -> np.ndarray:
    """Cluster rows with HDBSCAN (cosinetrack.algorithms.knn_hdbscan); -1 marks noise."""
    if too_few_points(len(features), cfg):
        return np.full(len(features), -1, dtype=np.int64)
    if not cfg.knn_graph:
        check_exact_tree_fits(len(features))
    k = cfg.knn_graph or len(features) - 1  # 0: every pair of points, the exact tree
    return knn_hdbscan.hdbscan(
        features,
        cfg.min_cluster_size,
        cfg.min_samples,
        k,
        cfg.selection_epsilon,
        cfg.allow_single_cluster,
    )


def split_components(clusters: np.ndarray, min_size: int) -> np.ndarray:
    """Split each cluster of a (2, H, W) volume into connected components; drop small ones.

    Returns labels 1..N (uint16) numbered in order of the clusters and their components.
    """
    out = np.zeros(clusters.shape, dtype=np.uint16)
    count = 0
    for cluster, box in enumerate(ndimage.find_objects(clusters), start=1):
        if box is None:
            continue
        components, n = ndimage.label(clusters[box] == cluster, structure=PAIR_CONNECTIVITY)
        sizes = np.bincount(components.ravel(), minlength=n + 1)
        for component in range(1, n + 1):
            if sizes[component] >= max(min_size, 1):
                count += 1
                out[box][components == component] = count
    return out


def assign_noise(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Give each noise point (-1) the cluster of its nearest clustered point in feature space.

    Points without any cluster to join become one cluster: they passed the background test, and
    a region HDBSCAN finds no structure in (one small cell) is one instance, not background.
    """
    noise = labels < 0
    if noise.all():
        return np.zeros_like(labels)
    return nearest_labels(features, labels, ~noise)


def nearest_labels(features: np.ndarray, labels: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Labels where every row not `known` takes the label of its nearest known row."""
    if known.all() or not known.any():
        return labels
    _, nearest = cKDTree(features[known]).query(features[~known])
    labels = labels.copy()
    labels[~known] = labels[known][nearest]
    return labels


def grid_sample(mask: np.ndarray, step: int) -> np.ndarray:
    """Which masked pixels (in `pair_features` order) lie on every `step`-th row and column."""
    _, y, x = np.nonzero(mask)
    return (y % step == 0) & (x % step == 0)


def spread_labels(features: np.ndarray, sample: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Labels of all rows: sampled rows keep theirs, the others take their nearest sampled row's."""
    spread = np.full(len(features), -1, dtype=np.int64)
    spread[sample] = labels
    return nearest_labels(features, spread, sample)


def sampled_labels(features: np.ndarray, sample: np.ndarray, cfg: ClusterConfig) -> np.ndarray:
    """HDBSCAN on the sampled rows (min_cluster_size scaled to the sample), spread to all rows."""
    scaled = max(2, round(cfg.min_cluster_size / cfg.subsample**2))
    labels = hdbscan_labels(features[sample], cfg.model_copy(update={"min_cluster_size": scaled}))
    return spread_labels(features, sample, labels)


def cluster_points(unit: np.ndarray, mask: np.ndarray, cfg: ClusterConfig) -> np.ndarray:
    """HDBSCAN cluster ids (1.., 0 = noise) of the masked pixels of a pair, as a (2, H, W) image."""
    features = pair_features(unit, mask, cfg.coordinate_factor)
    if cfg.subsample > 1:
        labels = sampled_labels(features, grid_sample(mask, cfg.subsample), cfg)
    else:
        labels = hdbscan_labels(features, cfg)
    if cfg.noise == "nearest":
        labels = assign_noise(features, labels)
    clusters = np.zeros(mask.shape, dtype=np.int64)
    clusters[mask] = labels + 1
    return clusters


def cluster_components(unit: np.ndarray, mask: np.ndarray, cfg: ClusterConfig) -> np.ndarray:
    """Cluster each connected foreground region of the pair on its own, with disjoint cluster ids.

    Clusters are split into connected components afterwards anyway, so points of different
    regions never share an instance; clustering regions apart gives HDBSCAN many small problems
    instead of one large one (its cost grows faster than linearly with the points).
    """
    clusters = np.zeros(mask.shape, dtype=np.int64)
    offset = 0
    for box, inside in foreground_regions(mask):
        ids = cluster_points(unit[box[0], :, box[1], box[2]], inside, cfg)  # (t, D, h, w) crop
        clusters[box][inside] = np.where(ids[inside] > 0, ids[inside] + offset, 0)
        offset += int(ids.max(initial=0))
    return clusters


def foreground_regions(mask: np.ndarray) -> Iterator[tuple[tuple[slice, ...], np.ndarray]]:
    """Each connected region of a pair's (2, H, W) foreground: its box and its mask in the box."""
    regions, _ = ndimage.label(mask, structure=PAIR_CONNECTIVITY)
    for region, box in enumerate(ndimage.find_objects(regions), start=1):
        yield box, regions[box] == region


def cluster_pair(
    unit: np.ndarray, background: np.ndarray, cfg: ClusterConfig
) -> tuple[np.ndarray, int]:
    """Label the instances of a frame pair (2, D, H, W); return (2, H, W) labels, point count."""
    mask = foreground(unit, background, cfg.background_threshold)  # (2, H, W)
    if cfg.scope == "component":
        clusters = cluster_components(unit, mask, cfg)
    else:
        clusters = cluster_points(unit, mask, cfg)
    return split_components(clusters, cfg.min_instance_size), int(mask.sum())


def label_pair(
    embedding: np.ndarray, background: np.ndarray, cfg: ClusterConfig
) -> tuple[np.ndarray, np.ndarray, int]:
    """A stored pair's embeddings (2, D, H, W) float16: labels, cosines to bg (float16), points.

    The labels (2, H, W) are `cluster_pair`'s; the cosines are what link enlarges outlines from,
    in the precision the pair-labels store keeps them.
    """
    unit = np.asarray(embedding, dtype=np.float32)  # (2, D, H, W)
    labels, points = cluster_pair(unit, background, cfg)
    return labels, background_cosine(unit, background).astype(np.float16), points


def warm_up_points(dim: int = 16, seed: int = 0) -> np.ndarray:
    """Two separated blobs of pair-feature rows (N, dim + 2) that exercise every HDBSCAN step."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((2, dim + 2))
    centres[1, 0] = 1.0
    return np.concatenate([rng.normal(c, 0.05, (200, dim + 2)) for c in centres])


def run_warm_up(out: Path) -> None:
    """Compile HDBSCAN once, before the cluster jobs, so they load numba's cache.

    cosinetrack.algorithms.knn_hdbscan compiles its numba code on first use and caches it (next to
    the package, or in NUMBA_CACHE_DIR); cluster jobs started at once after an install would each
    compile it. The code is the same for any cluster settings (the arrays' types do not change),
    so the defaults compile it and the warm-up does not rerun when the settings change.
    """
    start = time.perf_counter()
    labels = hdbscan_labels(warm_up_points(), ClusterConfig())
    seconds = round(time.perf_counter() - start, 2)
    if len(set(labels.tolist()) - {-1}) != 2:
        raise RuntimeError(f"HDBSCAN found {len(set(labels.tolist()))} clusters in 2 blobs")
    record = {
        "numba_cache_dir": numba.config.CACHE_DIR or "next to each package (numba's default)",
        "seconds": seconds,
        "provenance": provenance(),
    }
    with atomic_file(out) as partial:
        partial.write_text(json.dumps(record, indent=2) + "\n")
    logger.info("HDBSCAN ready in %.1f s (compiled or loaded from numba's cache)", seconds)


def check_embeddings(group: zarr.Group, path: Path) -> np.ndarray:
    """Check an embeddings store against its own record; return the background direction."""
    if "embedding" not in group:
        raise ValueError(f"{path}: no `embedding` array; rerun the `infer` rule")
    pairs, two, dim, height, width = group["embedding"].shape
    frames = pairs + 1
    recorded = tuple(group.attrs.get(key) for key in ("frames", "height", "width"))
    if two != 2 or recorded != (frames, height, width):
        raise ValueError(
            f"{path}: embedding of {pairs} pairs of {height}x{width} does not match the recorded "
            f"{recorded[0]} frames of {recorded[1]}x{recorded[2]}; rerun `infer`"
        )
    background = np.asarray(group.attrs.get("background_direction", []), dtype=np.float32)
    if background.shape != (dim,):
        raise ValueError(
            f"{path}: background direction of length {background.size} for {dim}-D embeddings; "
            f"the model does not match these embeddings, rerun `infer`"
        )
    return background


def run_cluster(embeddings: Path, out: Path, cfg: ClusterConfig, chunk: int = 0) -> None:
    """Cluster the frame pairs of job `chunk` of a sequence into a pair-labels store at `out`.

    The store is one zip file, so that Snakemake removes it (a temporary output) in one step.
    """
    group = open_store(embeddings, "embeddings")
    background = check_embeddings(group, embeddings)
    embedding = group["embedding"]
    frames = embedding.shape[0] + 1
    height, width = embedding.shape[-2:]
    pairs = chunk_pair_range(frames, cfg.chunk_pairs, chunk)
    if not pairs:
        raise ValueError(
            f"chunk {chunk} is empty: {frames} frames make "
            f"{chunk_count(frames, cfg.chunk_pairs)} chunks"
        )
    points, seconds = [], []
    with atomic_zip(out) as partial:
        store = zarr.open_group(partial, mode="w")
        labels = store.create_array(
            "labels",
            shape=(len(pairs), 2, height, width),
            chunks=(1, 2, height, width),
            dtype="uint16",
        )
        cosines = pair_cosine_array(store, (len(pairs), 2, height, width))
        for i, t in enumerate(
            tqdm(pairs, desc=f"cluster {Path(embeddings).stem}:{chunk}", mininterval=10)
        ):
            start = time.perf_counter()
            labels[i], cosines[i], n = label_pair(embedding[t], background, cfg)
            points.append(n)
            seconds.append(round(time.perf_counter() - start, 4))
        store.attrs.update(
            {
                "first_pair": pairs.start,
                "pairs": len(pairs),
                "frames": frames,
                "points": points,
                "seconds": seconds,
                "cluster": cfg.model_dump(),
                "provenance": provenance(),
            }
        )
    logger.info(
        "clustered pairs %d..%d: %.0f points and %.2f s per pair",
        pairs.start,
        pairs.stop - 1,
        np.mean(points),
        np.mean(seconds),
    )


def pair_cosine_array(store: zarr.Group, shape: tuple[int, int, int, int]) -> zarr.Array:
    """The (P, 2, H, W) float16 cosine to the background that link enlarges outlines from."""
    return store.create_array(
        "background_cosine", shape=shape, chunks=(1, *shape[1:]), dtype="float16"
    )


def run_gather_pairs(chunks: list[Path], out: Path) -> None:
    """Concatenate the chunk stores of a sequence, in order, into one pair-labels store."""
    groups = [open_store(path, "pair chunk") for path in chunks]
    groups.sort(key=lambda g: g.attrs["first_pair"])
    frames = groups[0].attrs["frames"]
    expected = 0
    for group, path in zip(groups, chunks, strict=True):
        if group.attrs["first_pair"] != expected:
            raise ValueError(
                f"{path}: chunk starts at pair {group.attrs['first_pair']}, expected {expected}"
            )
        expected += group.attrs["pairs"]
    if expected != frames - 1:
        raise ValueError(f"chunks cover {expected} pairs of a {frames}-frame sequence")
    _, _, height, width = groups[0]["labels"].shape
    with atomic_path(out) as partial:
        store = zarr.open_group(partial, mode="w")
        labels = store.create_array(
            "labels",
            shape=(frames - 1, 2, height, width),
            chunks=(1, 2, height, width),
            dtype="uint16",
        )
        cosines = pair_cosine_array(store, (frames - 1, 2, height, width))
        for group in groups:
            first = group.attrs["first_pair"]
            for i in range(group.attrs["pairs"]):
                labels[first + i] = group["labels"][i]
                cosines[first + i] = group["background_cosine"][i]
        store.attrs.update(
            {
                "frames": frames,
                "points": [p for g in groups for p in g.attrs["points"]],
                "seconds": [s for g in groups for s in g.attrs["seconds"]],
                "cluster": groups[0].attrs["cluster"],
            }
        )
