"""Tests of the synthetic dataset simulator: determinism, realism and exact CTC ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydantic
import pytest
from ctc_metrics import evaluate_sequence
from scipy import ndimage as ndi
from skimage import feature, filters, segmentation

from cosinetrack import simulate
from cosinetrack.config.sections import SimConfig
from cosinetrack.formats import ctc, ctc_layout

DEFAULT = SimConfig(sequences=1)
SMALL = SimConfig(height=64, width=96, frames=6, sequences=2, radius=6.0, seed=3)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sequence 01 of the default configuration (256 x 256, 40 frames), simulated once."""
    root = tmp_path_factory.mktemp("sim") / "data"
    simulate.run_simulate(root, DEFAULT)
    return root


@pytest.fixture(scope="module")
def masks(dataset: Path) -> list[np.ndarray]:
    """The TRA masks of the default sequence, one per frame."""
    return [ctc.read_label_frame(p) for p in sorted((dataset / "01_GT" / "TRA").glob("*.tif"))]


@pytest.fixture(scope="module")
def tracks(dataset: Path) -> np.ndarray:
    """The track table L B E P of the default sequence."""
    return ctc.read_track_table(dataset / "01_GT" / "TRA" / "man_track.txt")


def files(root: Path) -> dict[str, bytes]:
    """Map every file under root (relative path) to its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def touches_border(labels: np.ndarray, label: int) -> bool:
    """Tell whether a label occupies a pixel on the frame's edge."""
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    return bool(np.any(edge == label))


def naive_watershed(image: np.ndarray) -> np.ndarray:
    """Otsu threshold of the smoothed image, split by distance-transform peaks and watershed."""
    smooth = filters.gaussian(image.astype(float), 1.0, preserve_range=True)
    foreground = smooth > filters.threshold_otsu(smooth)
    components, _ = ndi.label(foreground)
    foreground &= np.bincount(components.ravel())[components] >= 20
    distance = ndi.distance_transform_edt(foreground)
    peaks = feature.peak_local_max(
        distance, min_distance=5, labels=ndi.label(foreground)[0], exclude_border=False
    )
    markers = np.zeros(image.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return segmentation.watershed(-distance, markers, mask=foreground)


def test_same_seed_gives_identical_files_and_other_seeds_differ(tmp_path: Path) -> None:
    simulate.run_simulate(tmp_path / "a", SMALL)
    simulate.run_simulate(tmp_path / "b", SMALL)
    simulate.run_simulate(tmp_path / "c", SMALL.model_copy(update={"seed": 4}))
    a, b, c = files(tmp_path / "a"), files(tmp_path / "b"), files(tmp_path / "c")
    assert len(a) == 2 * (6 + 6 + 3 + 1) + 1  # raw, TRA, SEG, table per sequence; summary
    assert a == b
    assert a["01/t000.tif"] != c["01/t000.tif"]
    assert a["01/t000.tif"] != a["02/t000.tif"]  # each sequence has its own seed
    assert not (tmp_path / "a.partial").exists()


def test_failed_run_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fail_second(
        root: Path, name: str, cfg: SimConfig, sequence: int
    ) -> simulate.SequenceSummary:
        calls.append(name)
        (root / name).mkdir(parents=True)
        if sequence == 2:
            raise RuntimeError("disk full")
        return simulate.SequenceSummary(cfg.frames, 0, 0.0, 0.0, 0, 0, 0)

    # run_simulate looks write_sequence up in its own module, so patch it there.
    monkeypatch.setattr(simulate.write, "write_sequence", fail_second)
    with pytest.raises(RuntimeError, match="disk full"):
        simulate.run_simulate(tmp_path / "out", SMALL)
    assert calls == ["01", "02"]
    assert list(tmp_path.iterdir()) == []


def test_frames_stream_and_table_comes_after() -> None:
    sim = simulate.simulate_sequence(SMALL, 1)
    with pytest.raises(RuntimeError, match="exhausted"):
        _ = sim.tracks
    frames = list(sim.frames())
    assert [f.index for f in frames] == list(range(6))
    assert all(f.image.dtype == np.uint16 and f.image.shape == (64, 96) for f in frames)
    assert all(f.labels.dtype == np.uint16 and f.labels.shape == (64, 96) for f in frames)
    assert sim.tracks.dtype == np.int64 and sim.tracks.shape[1] == 4
    labels_seen = set().union(*(np.unique(f.labels).tolist() for f in frames)) - {0}
    assert labels_seen == set(sim.tracks[:, 0].tolist())


def test_touching_fraction_of_a_known_mask() -> None:
    labels = np.zeros((10, 12), dtype=np.uint16)
    labels[1:4, 1:4] = 1
    labels[1:4, 4:7] = 2  # shares an edge with 1
    labels[6:9, 6:9] = 3  # only diagonal to nothing, isolated
    labels[5, 9] = 4  # diagonal to 3: not 4-adjacent
    assert simulate.touching_fraction(labels) == pytest.approx(2 / 4)
    assert simulate.touching_fraction(np.zeros((5, 5), dtype=np.uint16)) == 0.0


def test_a_third_of_the_nuclei_touch_in_a_typical_frame(masks: list[np.ndarray]) -> None:
    fractions = [simulate.touching_fraction(m) for m in masks]
    assert np.median(fractions) >= 1 / 3
    counts = [len(np.unique(m)) - 1 for m in masks]
    # Entries, exits and the outward drift keep the number of nuclei roughly constant.
    assert 25 <= min(counts) and max(counts) <= 1.6 * min(counts)


def test_lineage_divisions_entries_and_exits(masks: list[np.ndarray], tracks: np.ndarray) -> None:
    ends = {int(label): int(end) for label, _, end, _ in tracks}
    daughters: dict[int, list[tuple[int, int]]] = {}
    for label, begin, _, parent in tracks.tolist():
        if parent:
            daughters.setdefault(parent, []).append((label, begin))
    assert len(daughters) >= 1
    for parent, pair in daughters.items():
        assert len(pair) == 2
        for label, begin in pair:
            assert ends[parent] == begin - 1
            # A daughter has about half of its mother's area.
            ratio = np.sum(masks[begin] == label) / np.sum(masks[begin - 1] == parent)
            assert 0.3 < ratio < 0.75
    entered = [
        (label, begin) for label, begin, _, parent in tracks.tolist() if not parent and begin
    ]
    assert entered
    assert all(touches_border(masks[begin], label) for label, begin in entered)
    left = [
        (label, end)
        for label, _, end, _ in tracks.tolist()
        if end < len(masks) - 1 and label not in daughters
    ]
    assert left
    assert all(touches_border(masks[end], label) for label, end in left)


def test_ground_truth_is_consistent_and_seg_is_sparse_and_relabelled(
    dataset: Path, masks: list[np.ndarray]
) -> None:
    gt = ctc.read_ground_truth(dataset / "01_GT", DEFAULT.frames)
    raw = ctc_layout.frame_paths(dataset / "01")
    assert len(raw) == DEFAULT.frames
    assert ctc.check_shapes(raw) == (256, 256)
    assert ctc.read_frame(raw[0]).dtype == np.uint16
    assert sorted(gt.seg) == simulate.seg_frames(DEFAULT.frames, DEFAULT.seg_fraction)
    assert 0 in gt.seg and len(gt.seg) == DEFAULT.frames // 2
    differs = False
    for t, path in gt.seg.items():
        seg, tra = ctc.read_label_frame(path), masks[t]
        assert np.array_equal(seg > 0, tra > 0)
        pairs = np.unique(np.stack([seg[tra > 0], tra[tra > 0]]), axis=1)
        # One SEG label per track id and vice versa: equal up to a relabelling.
        assert len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]
        assert np.array_equal(np.unique(seg)[1:], np.arange(1, pairs.shape[1] + 1))
        differs |= not np.array_equal(seg, tra)
    assert differs
    sizes = np.concatenate([np.unique(m, return_counts=True)[1][1:] for m in masks])
    assert sizes.min() >= DEFAULT.min_size
    # Nuclei crossing the border are labelled, clipped to the frame.
    assert any(touches_border(m, int(label)) for m in masks for label in np.unique(m)[1:])


def test_seg_relabel_numbers_in_raster_order_of_centroids() -> None:
    labels = np.zeros((8, 8), dtype=np.uint16)
    labels[5:7, 1:3] = 9
    labels[1:3, 5:7] = 4
    labels[1:3, 1:3] = 7
    relabelled = simulate.seg_relabel(labels)
    assert relabelled[1, 1] == 1 and relabelled[1, 5] == 2 and relabelled[5, 1] == 3
    assert np.array_equal(relabelled > 0, labels > 0)


def test_seg_frames_include_frame_zero() -> None:
    assert simulate.seg_frames(40, 0.5)[0] == 0
    assert len(simulate.seg_frames(40, 0.5)) == 20
    assert simulate.seg_frames(2, 0.1) == [0]
    assert simulate.seg_frames(5, 1.0) == [0, 1, 2, 3, 4]


def test_ground_truth_as_result_scores_perfectly(dataset: Path, tmp_path: Path) -> None:
    res = tmp_path / "01_RES"
    simulate.write_ground_truth_result(dataset / "01_GT", res, DEFAULT.frames)
    ctc.check_result(res, DEFAULT.frames)
    scores = evaluate_sequence(
        res=str(res), gt=str(dataset / "01_GT"), metrics=["Valid", "SEG", "DET", "TRA"], threads=1
    )
    assert scores["Valid"] == 1
    assert scores["SEG"] == 1.0 and scores["DET"] == 1.0 and scores["TRA"] == 1.0


def test_naive_watershed_does_not_solve_the_data(dataset: Path, tmp_path: Path) -> None:
    masks, rows, offset = [], [], 0
    for t, image in enumerate(ctc.iter_frames(ctc_layout.frame_paths(dataset / "01"))):
        labels = naive_watershed(image)
        ids = np.unique(labels)[1:]
        masks.append(np.where(labels > 0, labels + offset, 0))
        rows += [[offset + int(i), t, t, 0] for i in ids]
        offset += int(labels.max())
    res = tmp_path / "01_RES"
    ctc.write_result(res, masks, np.array(rows), DEFAULT.frames)
    scores = evaluate_sequence(res=str(res), gt=str(dataset / "01_GT"), metrics=["SEG"], threads=1)
    # Clearly below perfect, yet not noise: most nuclei are found (around 0.6 with these defaults).
    assert 0.4 < scores["SEG"] < 0.75


@pytest.mark.parametrize(
    ("update", "field"),
    [({"frames": 1}, "frames"), ({"density": -0.1}, "density"), ({"radius": 0}, "radius")],
)
def test_invalid_config_names_the_field(update: dict, field: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=field):
        SimConfig(**update)


def test_unknown_config_key_is_an_error() -> None:
    with pytest.raises(pydantic.ValidationError, match="speed"):
        SimConfig(speed=3)


def test_ground_truth_as_the_challenge_ships_it(tmp_path: Path) -> None:
    """Markers in TRA, SEG in a quarter of the frames with 70% of the nuclei, silver truth."""
    full, shipped = tmp_path / "full", tmp_path / "shipped"
    simulate.run_simulate(full, SMALL)
    ctc_style = SMALL.model_copy(
        update={"markers": True, "seg_fraction": 0.25, "seg_coverage": 0.7, "silver": True}
    )
    simulate.run_simulate(shipped, ctc_style)
    assert files(full)["01/t003.tif"] == files(shipped)["01/t003.tif"]  # the same images
    gt = ctc.read_ground_truth(shipped / "01_GT", SMALL.frames)  # checks markers against table
    masks = ctc.read_ground_truth(full / "01_GT", SMALL.frames)
    assert sorted(gt.seg) == simulate.seg_frames(SMALL.frames, 0.25) == [0, 5]
    kept = []
    for t in range(SMALL.frames):
        marker, mask = ctc.read_label_frame(gt.tra[t]), ctc.read_label_frame(masks.tra[t])
        assert np.array_equal(np.unique(marker), np.unique(mask))  # every cell keeps a marker
        assert np.all(mask[marker > 0] == marker[marker > 0])  # inside its own nucleus
        assert (marker > 0).sum() < 0.4 * (mask > 0).sum()
        silver = ctc.read_label_frame(shipped / "01_ST" / "SEG" / f"man_seg{t:03d}.tif")
        outline = np.logical_xor(silver > 0, mask > 0).sum() / (mask > 0).sum()
        assert 0 < outline < 0.5  # one-pixel noise, not another segmentation
        if t in gt.seg:
            seg = ctc.read_label_frame(gt.seg[t])
            kept.append(len(np.unique(seg)) - 1)
            assert np.all(mask[seg > 0] > 0)
            kept[-1] /= len(np.unique(mask)) - 1
    assert 0.3 < np.mean(kept) < 1.0


def test_no_seg_at_all_at_fraction_zero(tmp_path: Path) -> None:
    simulate.run_simulate(tmp_path / "d", SMALL.model_copy(update={"seg_fraction": 0.0}))
    assert simulate.seg_frames(6, 0.0) == []
    assert not (tmp_path / "d" / "01_GT" / "SEG").exists()
    assert ctc.read_ground_truth(tmp_path / "d" / "01_GT", SMALL.frames).seg == {}
