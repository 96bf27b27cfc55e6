"""The real Snakemake workflow on a tiny config: a simulated dataset and a hand-made CTC folder."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
import zarr
from conftest import REPO, TINY, ctc_results, snakemake, two_cell_labels, write_config, write_ctc
from geff.core_io import read_to_memory
from test_export import ALL_CHECKS, lineage_from_geff

from cosinetrack.algorithms.resample import scaled_shape
from cosinetrack.config.file import WorkflowConfig
from cosinetrack.dag import targets as wf
from cosinetrack.formats import ctc, ctc_layout
from cosinetrack.model.folder import TrainedModel


@pytest.mark.slow
def test_simulated_dataset_in_ctc_layout(tiny_run: Path) -> None:
    root = tiny_run / "resources/datasets/tiny"
    assert len(ctc_layout.frame_paths(root / "01")) == 6
    gt = ctc.read_ground_truth(root / "02_GT", 6)
    assert 0 in gt.seg and len(gt.tracks) > 0


@pytest.mark.slow
@pytest.mark.parametrize(("dataset", "original"), [("tiny", (6, 64, 64)), ("own", (5, 48, 64))])
def test_stores_of_every_stage(tiny_run: Path, dataset: str, original: tuple) -> None:
    results = tiny_run / "results" / dataset
    scale = yaml.safe_load((results / "model/settings.yaml").read_text())["preprocess"]["scale"]
    shape = (original[0], *scaled_shape(original[1:], scale))
    prep = zarr.open_group(results / "prep/02.zarr", mode="r")
    assert prep["image"].shape == shape and prep["labels"].shape == shape
    assert prep.attrs["preprocess"]["scale"] == scale
    embeddings = zarr.open_group(results / "embeddings/02.zarr", mode="r")["embedding"]
    assert embeddings.shape == (shape[0] - 1, 2, 4, *shape[1:])
    assert embeddings.dtype == np.float16 and embeddings.chunks == (1, 2, 4, *shape[1:])
    pairs = zarr.open_group(results / "pairs/02.zarr", mode="r")["labels"]
    assert pairs.shape == (shape[0] - 1, 2, *shape[1:])
    assert not list((results / "pairs").glob("02/chunk*"))  # temporary chunks removed


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["tiny", "own"])
def test_model_folder(tiny_run: Path, dataset: str) -> None:
    folder = tiny_run / "results" / dataset / "model"
    model = TrainedModel.from_folder(folder)
    assert model.embedding_dim == 4
    assert yaml.safe_load((folder / "config.yaml").read_text())["model"]["filters"] == 4
    training = tiny_run / "results" / dataset / "train"
    log = pd.read_csv(training / "train_log.csv")
    assert log["iteration"].tolist() == [1, 2, 3]
    assert (training / "loss.png").stat().st_size > 1000
    assert not (training / "checkpoint.pt").exists()


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["tiny", "own"])
def test_settings_travel_with_the_model(tiny_run: Path, dataset: str) -> None:
    """Measured object size, chosen settings (the config's own win) and validation choices."""
    folder = tiny_run / "results" / dataset / "model"
    settings = yaml.safe_load((folder / "settings.yaml").read_text())
    assert settings["measured"]["source"] == "SEG" and settings["measured"]["diameter"] > 0
    # TINY sets cluster.min_cluster_size and train.crop: the config wins over the object size
    assert settings["cluster"]["min_cluster_size"] == TINY["cluster"]["min_cluster_size"]
    assert settings["sources"]["train.crop"] == "config"
    assert settings["sources"]["preprocess.scale"] == "object size"
    frames = {"tiny": 6, "own": 5}[dataset]
    assert settings["validation"]["held_back"] == {"01": [frames - 2, frames]}
    post = yaml.safe_load((folder / "postprocess.yaml").read_text())
    assert post["cluster"]["min_cluster_size"] == TINY["cluster"]["min_cluster_size"]
    rows = pd.read_csv(folder / "validation.csv")
    assert rows["stage"].iloc[0] == "checkpoint" and rows["criterion"].between(0, 1).all()
    used = zarr.open_group(tiny_run / "results" / dataset / "pairs/02.zarr", mode="r")
    assert used.attrs["cluster"]["background_threshold"] == post["cluster"]["background_threshold"]


@pytest.mark.slow
@pytest.mark.parametrize(("dataset", "frames"), [("tiny", 6), ("own", 5)])
def test_valid_ctc_result(tiny_run: Path, dataset: str, frames: int) -> None:
    res = tiny_run / "results" / dataset / "cosine/02_RES"
    ctc.check_result(res, frames)


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["tiny", "own"])
@pytest.mark.parametrize("method", ["cosine", "baseline"])
def test_valid_geff_and_object_table(tiny_run: Path, dataset: str, method: str) -> None:
    results = tiny_run / "results" / dataset
    res = results / method / "02_RES"
    tracks = ctc.read_track_table(res / "res_track.txt")
    objects = pd.read_csv(results / method / "02_objects.csv")
    assert list(objects.columns) == ["track_id", "t", "y", "x", "area", "parent_track_id"]
    in_masks = [
        (t, label)
        for t, path in enumerate(ctc.result_masks(res))
        for label in np.unique(ctc.read_label_frame(path)).tolist()
        if label
    ]
    assert list(zip(objects["t"], objects["track_id"], strict=True)) == in_masks
    parents = dict(zip(tracks[:, 0].tolist(), tracks[:, 3].tolist(), strict=True))
    assert objects["parent_track_id"].tolist() == objects["track_id"].map(parents).tolist()
    graph = results / method / "02.geff.zarr"
    memory = read_to_memory(graph, data_validation=ALL_CHECKS)
    assert len(memory["node_ids"]) == len(objects)
    assert lineage_from_geff(graph).tolist() == tracks.tolist()


@pytest.mark.slow
def test_metrics_and_provenance(tiny_run: Path) -> None:
    metrics = pd.read_csv(tiny_run / "results/metrics.csv", dtype={"sequence": str})
    assert list(metrics.columns) == ["dataset", "sequence", "method", "metric", "value"]
    assert set(metrics["dataset"]) == {"tiny", "own"}
    assert set(metrics["sequence"]) == {"02"}
    headline = metrics[metrics["metric"].isin(["SEG", "DET", "TRA"])]
    assert len(headline) == 2 * len(set(metrics["method"])) * 3
    assert headline["value"].between(0, 1).all()
    record = json.loads((tiny_run / "results/provenance.json").read_text())
    assert record["config"]["model"]["filters"] == 4
    assert len(record["config_hash"]) == 16 and record["packages"]["torch"].startswith("2.13.0")
    assert record["seeds"] == {"train": 0, "simulate.tiny": 3}


@pytest.mark.slow
def test_every_job_has_a_log_and_a_benchmark(tiny_run: Path) -> None:
    logs = {
        p.relative_to(tiny_run / "results/tiny/logs").parts[0]
        for p in (tiny_run / "results/tiny/logs").rglob("*.log")
    }
    assert {"simulate.log", "preprocess", "train.log", "infer", "cluster", "link"} <= logs
    assert "export" in logs and {"adapt.log", "select.log"} <= logs
    written = {str(p.relative_to(tiny_run)) for p in (tiny_run / "results").rglob("*.tsv")}
    config = WorkflowConfig.model_validate(yaml.safe_load((tiny_run / "config.yaml").read_text()))
    # The runtimes table reads every job's benchmark file; none may be left out of it.
    assert written == set(wf.benchmark_files(config))


@pytest.mark.slow
def test_second_run_has_nothing_to_do(tiny_run: Path) -> None:
    result = snakemake(tiny_run, "--configfile", str(tiny_run / "config.yaml"), "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout


@pytest.mark.slow
def test_rerun_in_a_fresh_directory_gives_identical_results(tiny_run: Path, tmp_path: Path) -> None:
    """The same config run again from scratch writes byte-identical CTC results (masks, tracks)."""
    first = ctc_results(tiny_run)
    folders = sorted({str(Path(name).parent) for name in first})
    assert len(folders) == 4  # cosine and baseline, on both datasets
    # Only the result folders (targets before --configfile, which takes several values):
    # evaluation and figures add nothing to compare.
    result = snakemake(tmp_path, *folders, "--configfile", str(tiny_run / "config.yaml"))
    assert result.returncode == 0, result.stdout[-3000:]
    second = ctc_results(tmp_path)
    assert second.keys() == first.keys()
    assert [name for name in first if first[name] != second[name]] == []


def test_wrong_type_in_config_names_the_key(tmp_path: Path) -> None:
    config = {**TINY, "train": {"iterations": "many"}}
    result = snakemake(tmp_path, "--configfile", str(write_config(tmp_path, config)), "-n")
    assert result.returncode != 0
    assert "train.iterations: 'many' should be a valid integer" in result.stdout


def test_unknown_key_in_config_is_refused(tmp_path: Path) -> None:
    config = {**TINY, "cluster": {"min_cluster_sise": 5}}
    result = snakemake(tmp_path, "--configfile", str(write_config(tmp_path, config)), "-n")
    assert result.returncode != 0
    told = "cluster.min_cluster_sise: unknown key; did you mean 'min_cluster_size'?"
    assert told in result.stdout.splitlines()[:3]  # first thing after Snakemake's own two lines
    assert "Failed validating" not in result.stdout  # not the schema


def test_unquoted_sequence_name_is_told_to_be_quoted(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("datasets:\n  sim:\n    simulate: {}\n    train: [01]\n")
    result = snakemake(tmp_path, "--configfile", str(config), "-n")
    assert result.returncode != 0
    told = 'datasets.sim.train: 1 is a number; write sequence names in quotes: train: ["01"]'
    assert told in result.stdout


def test_number_the_schema_refuses_is_told_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("datasets:\n  sim:\n    simulate: {}\ntrain:\n  learning_rate: 1e-3\n")
    result = snakemake(tmp_path, "--configfile", str(config), "-n")
    assert result.returncode != 0
    assert "train.learning_rate: '1e-3' is not of type 'number'; YAML reads" in result.stdout
    assert "Failed validating" not in result.stdout


def test_missing_ctc_folder_names_the_key(tmp_path: Path) -> None:
    config = {"datasets": {"mine": {"path": str(tmp_path / "nowhere")}}}
    result = snakemake(tmp_path, "--configfile", str(write_config(tmp_path, config)), "-n")
    assert result.returncode != 0
    assert "datasets.mine.path: folder" in result.stdout


def own_without_gt(root: Path, sequences: list[str], without: str) -> Path:
    """A user's CTC folder of hand-made sequences, one of them without its ground truth."""
    import shutil

    for sequence in sequences:
        write_ctc(root, sequence, two_cell_labels(), np.array([[1, 0, 3, 0], [2, 1, 3, 0]]))
    shutil.rmtree(root / f"{without}_GT")
    return root


def test_training_sequence_without_gt_is_refused(tmp_path: Path) -> None:
    own = own_without_gt(tmp_path / "own", ["01", "02"], without="01")
    config = {"datasets": {"mine": {"path": str(own), "train": ["01"], "test": ["02"]}}}
    result = snakemake(tmp_path, "--configfile", str(write_config(tmp_path, config)), "-n")
    assert result.returncode != 0
    assert "datasets.mine.train: sequence 01 has no ground truth" in result.stdout


def test_validation_sequence_without_gt_is_refused(tmp_path: Path) -> None:
    own = own_without_gt(tmp_path / "own", ["01", "02", "03"], without="03")
    mine = {"path": str(own), "train": ["01"], "validation": ["03"], "test": ["02"]}
    result = snakemake(
        tmp_path, "--configfile", str(write_config(tmp_path, {"datasets": {"mine": mine}})), "-n"
    )
    assert result.returncode != 0
    assert "datasets.mine.validation: sequence 03 has no ground truth" in result.stdout


def test_markers_only_data_is_sized_from_its_frames_or_the_config(tmp_path: Path) -> None:
    own, tracks = tmp_path / "own", np.array([[1, 0, 9, 0], [2, 1, 9, 0]])
    for sequence in ("01", "02"):
        write_ctc(own, sequence, two_cell_labels(10), tracks, seg_frames=())  # markers only
    mine = {"path": str(own), "train": ["01"], "test": ["02"]}
    settings = "results/mine/model/settings.yaml"
    config = write_config(tmp_path, {"datasets": {"mine": mine}})
    result = snakemake(tmp_path, settings, "--configfile", str(config))
    assert result.returncode == 0, result.stdout[-2000:]
    measured = yaml.safe_load((tmp_path / settings).read_text())["measured"]
    assert measured["source"] == "estimate"
    assert 10.0 < measured["diameter"] < 16.5  # disks of radius 6 and 7
    given = {"datasets": {"mine": mine}, "adapt": {"object_diameter": 13.0}}
    result = snakemake(tmp_path, settings, "--configfile", str(write_config(tmp_path, given)))
    assert result.returncode == 0, result.stdout[-2000:]
    measured = yaml.safe_load((tmp_path / settings).read_text())["measured"]
    assert (measured["source"], measured["diameter"]) == ("config", 13.0)


def test_default_config_dry_run() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "8", "--quiet", "rules"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for rule in ("simulate", "preprocess", "train", "infer", "cluster", "link", "evaluate"):
        assert rule in result.stdout
