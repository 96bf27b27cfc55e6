"""Clustering and linking on hand-made embeddings: known cells in, known tracks and lineage out."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr
from conftest import disk

from cosinetrack.config.sections import ClusterConfig, LinkConfig
from cosinetrack.dag.paths import chunk_count
from cosinetrack.formats import ctc
from cosinetrack.stages.cluster import run_cluster, run_gather_pairs
from cosinetrack.stages.link import drop_short_tracks, greedy_matches, run_link

SHAPE = (48, 64)
DIM = 6
CLUSTER = ClusterConfig(min_cluster_size=15, min_samples=5, min_instance_size=10, chunk_pairs=2)
LINK = LinkConfig(min_track_length=2, parent_dilation=2)

# A cell in a frame: (centre y, centre x, radius, embedding axis); axis 0 is the background.
Cell = tuple[float, float, float, int]


def write_stores(
    tmp: Path, frames: list[list[Cell]], original: tuple[int, int] = SHAPE
) -> tuple[Path, Path]:
    """Write a preprocessed store and an embeddings store whose cells point along given axes."""
    rng = np.random.default_rng(0)
    embedding = np.zeros((len(frames), DIM, *SHAPE), np.float32)
    embedding[:, 0] = 1.0
    for t, cells in enumerate(frames):
        for y, x, r, axis in cells:
            inside = disk(SHAPE, (y, x), r)
            embedding[t, :, inside] = 0.0
            embedding[t, axis, inside] = 1.0
    embedding += rng.normal(0, 0.02, embedding.shape).astype(np.float32)
    embedding /= np.linalg.norm(embedding, axis=1, keepdims=True)
    prep = zarr.open_group(tmp / "prep.zarr", mode="w")
    prep.create_array("image", data=np.zeros((len(frames), *SHAPE), np.float32))
    prep.attrs["original_shape"] = list(original)
    store = zarr.open_group(tmp / "embeddings.zarr", mode="w")
    pairs = np.stack([embedding[:-1], embedding[1:]], axis=1)  # (T-1, 2, D, H, W)
    store.create_array("embedding", data=pairs.astype(np.float16), chunks=(1, 2, DIM, *SHAPE))
    store.attrs.update(
        frames=len(frames),
        height=SHAPE[0],
        width=SHAPE[1],
        background_direction=[1.0] + [0.0] * (DIM - 1),
    )
    return tmp / "prep.zarr", tmp / "embeddings.zarr"


def segment_and_track(
    tmp: Path,
    frames: list[list[Cell]],
    cfg: ClusterConfig = CLUSTER,
    original: tuple[int, int] = SHAPE,
) -> Path:
    """Run cluster (in chunks), gather and link; return the result folder."""
    prep, embeddings = write_stores(tmp, frames, original)
    chunks = []
    for chunk in range(chunk_count(len(frames), cfg.chunk_pairs)):
        chunks.append(tmp / f"chunk{chunk}.zarr.zip")
        run_cluster(embeddings, chunks[-1], cfg, chunk)
        # one file, so that removing the temporary chunk cannot stop halfway; nothing else left
        assert chunks[-1].is_file() and sorted(tmp.glob(f"chunk{chunk}*")) == [chunks[-1]]
    run_gather_pairs(chunks, tmp / "pairs.zarr")
    run_link(tmp / "pairs.zarr", prep, tmp / "01_RES", LINK)
    return tmp / "01_RES"


def table(res: Path) -> list[list[int]]:
    return ctc.read_track_table(res / "res_track.txt").tolist()


def masks(res: Path) -> np.ndarray:
    return np.stack([tifffile.imread(p) for p in ctc.result_masks(res)])


def test_touching_cells_with_orthogonal_embeddings_are_two_instances(tmp_path: Path) -> None:
    cells = [[(24, 24, 8, 1), (24, 40, 8, 2)]] * 3  # centres 16 px apart, radius 8: touching
    res = segment_and_track(tmp_path, cells)
    assert table(res) == [[1, 0, 2, 0], [2, 0, 2, 0]]
    labels = masks(res)
    assert labels[0, 24, 24] != labels[0, 24, 40] and labels[0, 24, 24] > 0
    assert len(np.unique(labels[1])) == 3


def test_far_apart_cells_with_the_same_embedding_are_two_instances(tmp_path: Path) -> None:
    cells = [[(12, 12, 6, 1), (36, 52, 6, 1)]] * 3
    res = segment_and_track(tmp_path, cells)
    assert table(res) == [[1, 0, 2, 0], [2, 0, 2, 0]]
    labels = masks(res)
    assert labels[2, 12, 12] != labels[2, 36, 52]


def test_division_gives_two_daughters_and_a_mother_that_ends_before_them(tmp_path: Path) -> None:
    mother = [(24, 32, 8, 1)]
    daughters = [(24, 25, 6, 1), (24, 39, 6, 2)]
    res = segment_and_track(tmp_path, [mother] * 3 + [daughters] * 3)
    rows = table(res)
    assert [1, 0, 2, 0] in rows
    assert sorted(r for r in rows if r[0] != 1) == [[2, 3, 5, 1], [3, 3, 5, 1]]
    labels = masks(res)
    assert {labels[4, 24, 25], labels[4, 24, 39]} == {2, 3}


def test_division_at_the_frame_edge_finds_the_mother(tmp_path: Path) -> None:
    mother = [(6, 20, 7, 1)]  # cut by the top edge, as are her daughters
    daughters = [(5, 14, 5, 1), (5, 26, 5, 2)]
    rows = table(segment_and_track(tmp_path, [mother] * 3 + [daughters] * 3))
    assert sorted(r for r in rows if r[0] != 1) == [[2, 3, 5, 1], [3, 3, 5, 1]]


def test_iou_table_counts_overlaps_of_large_labels() -> None:
    from cosinetrack.stages.link import iou_table

    a = np.zeros((4, 8), np.int64)
    a[:, :4], a[:, 4:] = 70_000, 3
    b = np.zeros((4, 8), np.int64)
    b[:, 2:6] = 65_000  # half of each label of a
    ref, lab, iou = iou_table(a, b)
    assert ref.tolist() == [3, 70_000] and lab.tolist() == [65_000] * 2
    assert np.allclose(iou, 8 / 24)


def test_appearing_and_disappearing_cells_start_and_end_tracks(tmp_path: Path) -> None:
    a, b = (12, 12, 6, 1), (36, 50, 6, 2)
    frames = [[a], [a], [a, b], [a, b], [a, b], [a]]
    res = segment_and_track(tmp_path, frames)
    assert table(res) == [[1, 0, 5, 0], [2, 2, 4, 0]]


def test_cell_moving_by_a_few_pixels_keeps_its_track(tmp_path: Path) -> None:
    frames = [[(24, 10 + 3 * t, 7, 3)] for t in range(6)]
    res = segment_and_track(tmp_path, frames)
    assert table(res) == [[1, 0, 5, 0]]


def test_all_background_gives_an_empty_valid_result(tmp_path: Path) -> None:
    res = segment_and_track(tmp_path, [[]] * 4)
    assert table(res) == []
    assert masks(res).shape == (4, *SHAPE) and not masks(res).any()
    ctc.check_result(res, frames=4)


def test_result_does_not_depend_on_chunk_size(tmp_path: Path) -> None:
    a, b = (12, 12, 6, 1), (36, 50, 6, 2)
    frames = [[a], [a, b], [a, b], [a, b], [b], [b], [a, b]]
    results = []
    for size in (1, 3, 10):
        folder = tmp_path / str(size)
        folder.mkdir()
        cfg = CLUSTER.model_copy(update={"chunk_pairs": size})
        results.append(masks(segment_and_track(folder, frames, cfg)))
        pairs = zarr.open_group(folder / "pairs.zarr", mode="r")["labels"][:]
        if size == 1:
            reference_pairs = pairs
        assert np.array_equal(pairs, reference_pairs)
    assert all(np.array_equal(r, results[0]) for r in results)


def test_results_are_resized_to_the_original_frames(tmp_path: Path) -> None:
    a, b = (12, 12, 6, 1), (36, 50, 6, 2)
    res = segment_and_track(tmp_path, [[a, b]] * 3, original=(96, 128))
    labels = masks(res)
    assert labels.shape == (3, 96, 128)
    assert labels[1, 24, 24] != labels[1, 72, 100] and labels[1, 24, 24] > 0
    ctc.check_result(res, frames=3)


def test_embeddings_of_another_dimension_are_refused(tmp_path: Path) -> None:
    _, embeddings = write_stores(tmp_path, [[]] * 3)
    zarr.open_group(embeddings, mode="a").attrs["background_direction"] = [1.0, 0.0]
    with pytest.raises(ValueError, match="background direction of length 2 for 6-D embeddings"):
        run_cluster(embeddings, tmp_path / "chunk0.zarr", CLUSTER, 0)
    assert not (tmp_path / "chunk0.zarr").exists()


def test_pairs_of_another_sequence_are_refused(tmp_path: Path) -> None:
    segment_and_track(tmp_path, [[(12, 12, 6, 1)]] * 3)
    other = zarr.open_group(tmp_path / "other.zarr", mode="w")
    other.create_array("image", data=np.zeros((5, *SHAPE), np.float32))
    with pytest.raises(ValueError, match="do not match the 5 frames"):
        run_link(tmp_path / "pairs.zarr", tmp_path / "other.zarr", tmp_path / "02_RES", LINK)


def shifted_squares(shift: int) -> tuple[np.ndarray, np.ndarray]:
    """Three 10x10 squares, and the same squares shifted right by `shift` pixels."""
    a = np.zeros((20, 80), np.int64)
    b = np.zeros((20, 80), np.int64)
    for k, x in enumerate((5, 30, 55), start=1):
        a[5:15, x : x + 10] = k
        b[5:15, x + shift : x + shift + 10] = 10 + k
    return a, b


@pytest.mark.parametrize(("shift", "matched"), [(0, 3), (3, 3), (6, 0), (12, 0)])
def test_greedy_matches_under_known_shifts(shift: int, matched: int) -> None:
    # IoU of a 10-wide square with itself shifted by s is (10 - s) / (10 + s): 1, 0.54, 0.25, 0.
    a, b = shifted_squares(shift)
    matches = greedy_matches(a, b, threshold=0.26)
    assert len(matches) == matched
    assert all(ref == lab - 10 for lab, ref in matches.items())


def test_greedy_matching_prefers_the_largest_overlap() -> None:
    reference = np.zeros((10, 30), np.int64)
    reference[:, 0:10], reference[:, 10:20] = 1, 2
    labels = np.zeros((10, 30), np.int64)
    labels[:, 2:12] = 5  # IoU 8/12 with 1, 2/18 with 2
    labels[:, 12:22] = 6  # IoU 8/12 with 2
    assert greedy_matches(reference, labels, 0.25) == {5: 1, 6: 2}


def test_short_parentless_tracks_are_dropped_unless_they_have_daughters() -> None:
    tracks = np.array([[1, 0, 0, 0], [2, 0, 5, 0], [3, 1, 1, 0], [4, 2, 2, 3], [5, 4, 4, 2]])
    kept = drop_short_tracks(tracks, min_length=2)
    assert kept[:, 0].tolist() == [2, 3, 4, 5]


def test_noise_goes_to_the_nearest_cluster_or_forms_one() -> None:
    from cosinetrack.stages.cluster import assign_noise

    features = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0], [0.2, 0.1], [4.8, 5.0]])
    labels = np.array([0, 0, 1, 1, -1, -1])
    assert assign_noise(features, labels).tolist() == [0, 0, 1, 1, 0, 1]
    assert assign_noise(features, np.full(6, -1)).tolist() == [0] * 6


@pytest.mark.parametrize("subsample", [1, 2])
@pytest.mark.parametrize("scope", ["pair", "component"])
@pytest.mark.parametrize("knn_graph", [0, 8])
def test_every_spanning_tree_scope_and_subsample_finds_the_same_cells(
    tmp_path: Path, knn_graph: int, scope: str, subsample: int
) -> None:
    settings = {"knn_graph": knn_graph, "scope": scope}
    settings |= {"subsample": subsample, "selection_epsilon": 0.0}
    cfg = ClusterConfig(**{**CLUSTER.model_dump(), **settings})
    cells = [[(24, 16, 8, 1), (24, 32, 8, 2), (8, 56, 5, 3)]] * 3  # two touching, one alone
    labels = masks(segment_and_track(tmp_path, cells, cfg))
    assert len(table(tmp_path / "01_RES")) == 3
    for t in range(3):
        found = [labels[t, 24, 16], labels[t, 24, 32], labels[t, 8, 56]]
        assert len(set(found)) == 3 and min(found) > 0


@pytest.mark.parametrize("subsample", [1, 2])
@pytest.mark.parametrize("scope", ["pair", "component"])
def test_a_cell_too_small_to_cluster_is_kept_as_one_instance(
    tmp_path: Path, scope: str, subsample: int
) -> None:
    settings = {"scope": scope, "subsample": subsample, "noise": "nearest"}
    cfg = CLUSTER.model_copy(update={**settings, "min_cluster_size": 60, "min_samples": 5})
    cells = [[(24, 16, 8, 1), (24, 32, 8, 2), (8, 56, 3, 3)]] * 3  # the last: ~29 px per frame
    labels = masks(segment_and_track(tmp_path, cells, cfg))
    assert labels[1, 8, 56] > 0
    assert labels[1, 8, 56] not in (labels[1, 24, 16], labels[1, 24, 32])


def test_an_exact_tree_too_large_for_memory_is_refused_before_it_starts(monkeypatch) -> None:
    from cosinetrack.stages import cluster

    points = np.random.default_rng(0).normal(size=(100, 4))
    exact = CLUSTER.model_copy(update={"knn_graph": 0})
    assert cluster.memory_bytes() > cluster.EXACT_TREE_BYTES_PER_PAIR * 100 * 100
    assert len(cluster.hdbscan_labels(points, exact)) == 100
    # A machine of 0.7 MB: 100 points need 100 * 100 * 72 bytes.
    monkeypatch.setattr(cluster, "memory_bytes", lambda: 700_000)

    def allocate(*args: object) -> None:
        raise AssertionError("HDBSCAN started")

    monkeypatch.setattr(cluster.knn_hdbscan, "hdbscan", allocate)
    with pytest.raises(MemoryError, match=r"^cluster\.knn_graph: 0 \(the exact .* 100 points"):
        cluster.hdbscan_labels(points, exact)
    cluster.check_exact_tree_fits(98)  # 0.69 MB
    with pytest.raises(AssertionError, match="HDBSCAN started"):  # the neighbour graph: no bound
        cluster.hdbscan_labels(points, CLUSTER)


def test_unsampled_points_take_the_label_of_their_nearest_sampled_point() -> None:
    from cosinetrack.stages.cluster import grid_sample, spread_labels

    mask = np.zeros((2, 4, 4), bool)
    mask[0, :, :2] = mask[1, :, 2:] = True  # left half in frame t, right half in t+1
    sample = grid_sample(mask, 2)
    assert sample.sum() == 4  # rows 0 and 2, columns 0 (frame t) and 2 (frame t+1)
    features = np.r_[np.arange(8), np.arange(8) + 100.0][:, None]  # frames far apart
    labels = spread_labels(features, sample, np.array([0, 0, 1, 1]))
    assert labels.tolist() == [0] * 8 + [1] * 8


def tracked_table(tmp: Path, labels: np.ndarray, cfg: LinkConfig = LINK) -> list[list[int]]:
    """Link hand-made label frames (T, H, W), each matched to the last through itself."""
    from cosinetrack.stages.link import write_tracks

    tracks = write_tracks(((f, f) for f in labels), tmp / "01_RES", labels.shape, cfg)
    return tracks.tolist()


def test_a_fragment_seen_for_one_frame_is_no_daughter(tmp_path: Path) -> None:
    labels = np.zeros((5, *SHAPE), np.int64)
    labels[:, 14:34, 20:44] = 1
    labels[2, 14:34, 34:44] = 2  # frame 2 splits the cell; the piece is gone in frame 3
    assert tracked_table(tmp_path, labels) == [[1, 0, 4, 0]]


def test_a_piece_split_off_for_two_frames_is_no_daughter(tmp_path: Path) -> None:
    labels = np.zeros((7, *SHAPE), np.int64)
    labels[:, 14:34, 20:44] = 1
    labels[2:4, 14:34, 34:44] = 2  # frames 2 and 3 split the cell; whole again from frame 4
    split = LINK.model_copy(update={"min_daughter_length": 1})
    assert tracked_table(tmp_path / "kept", labels, split) == [
        [1, 0, 1, 0],
        [2, 2, 3, 1],
        [3, 2, 6, 1],
    ]
    assert LINK.min_daughter_length == 3
    assert tracked_table(tmp_path / "undone", labels) == [[1, 0, 6, 0]]
    assert set(np.unique(masks(tmp_path / "undone" / "01_RES")[2])) == {0, 1}


def test_a_cell_entering_beside_a_living_one_is_not_her_daughter(tmp_path: Path) -> None:
    labels = np.zeros((5, *SHAPE), np.int64)
    labels[:, 10:30, 40:60] = 1
    labels[2:, 12:24, 60:64] = 2  # enters across the right edge at frame 2, touching cell 1
    assert tracked_table(tmp_path, labels) == [[1, 0, 4, 0], [2, 2, 4, 0]]


def test_a_cell_back_in_view_where_one_ended_is_not_her_daughter(tmp_path: Path) -> None:
    labels = np.zeros((6, *SHAPE), np.int64)
    labels[:2, 20:30, 0:6] = 1
    labels[3:, 20:30, 0:6] = 2  # one frame out of view: a new track, as in the CTC ground truth
    assert tracked_table(tmp_path, labels) == [[1, 0, 1, 0], [2, 3, 5, 0]]


def test_tracks_cut_short_by_the_recording_are_kept() -> None:
    tracks = np.array([[1, 0, 0, 0], [2, 0, 5, 0], [3, 1, 1, 0], [4, 3, 3, 0], [5, 5, 5, 0]])
    kept = drop_short_tracks(tracks, min_length=2, cut_short={1, 4, 5})
    assert kept[:, 0].tolist() == [1, 2, 4, 5]


def cache_files(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file numba keeps in a cache folder, with its size and modification time."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*.nb*")}


@pytest.mark.slow
def test_warm_up_compiles_everything_a_cluster_job_needs(tmp_path: Path) -> None:
    """After the warm-up job, clustering real pairs in a new process compiles nothing more."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    warm = "from cosinetrack.stages.cluster import run_warm_up; "
    warm += f" run_warm_up(Path({str(tmp_path / 'ok.json')!r}))"
    subprocess.run([sys.executable, "-c", "from pathlib import Path; " + warm], env=env, check=True)
    record = json.loads((tmp_path / "ok.json").read_text())
    assert record["numba_cache_dir"] == env["NUMBA_CACHE_DIR"]
    compiled = cache_files(tmp_path / "numba")
    assert any("knn_hdbscan" in name for name in compiled)
    # A cluster job: a pair of 16-D embeddings with three cells, in a process of its own.
    job = (
        "import numpy as np; from cosinetrack.stages.cluster import cluster_pair; "
        "from cosinetrack.config.sections import ClusterConfig; "
        "u = np.zeros((2, 16, 40, 40), np.float32); "
        "u[:, 0] = 1; u[:, :, 5:15, 5:15] = 0; u[:, 1, 5:15, 5:15] = 1; u[:, 0, 20:30, 5:15] = 0; "
        "u[:, 2, 20:30, 5:15] = 1; u[:, 0, 5:15, 25:35] = 0; u[:, 3, 5:15, 25:35] = 1; "
        "u += np.random.default_rng(0).normal(0, 0.02, u.shape).astype(np.float32); "
        "u /= np.linalg.norm(u, axis=1, keepdims=True); bg = np.eye(16, dtype=np.float32)[0]; "
        "labels, _ = cluster_pair(u, bg, ClusterConfig(min_cluster_size=20)); "
        "assert labels.max() == 3, labels.max()"
    )
    subprocess.run([sys.executable, "-c", job], env=env, check=True)
    assert cache_files(tmp_path / "numba") == compiled
