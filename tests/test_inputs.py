"""Rules depend on the files they read of a dataset's folder, not on the folder.

The input functions of `cosinetrack.dag.targets` list a sequence's frames, ground truth (TRA masks,
track table, SEG masks) and silver truth (ST SEG masks), or a still-image split's images and
masks, per rule. A real run on a user's CTC folder then shows what that buys: editing a mask or
the track table of the training sequence reruns fitting, an unrelated file reruns nothing. The
same run has a test sequence with TRA but no SEG (scored on the rest) and one without GT
(segmented and tracked, not scored).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from conftest import TINY, snakemake, two_cell_labels, write_config, write_ctc

from cosinetrack.config.file import DatasetConfig
from cosinetrack.dag import paths
from cosinetrack.dag import targets as wf
from cosinetrack.stills import layout
from cosinetrack.stills.simulate import simulate_images

TRACKS = np.array([[1, 0, 4, 0], [2, 1, 4, 0]])
FITTING = {"adapt", "preprocess", "train", "select"}


def names(files: list[str], root: Path) -> list[str]:
    """Paths relative to `root`, for comparing."""
    return [str(Path(file).relative_to(root)) for file in files]


@pytest.fixture
def own(tmp_path: Path) -> Path:
    """A user's CTC folder: 01 with GT, ST and stray files; 02 with TRA only; 03 without GT."""
    root = tmp_path / "own"
    for seq in ("01", "02", "03"):
        write_ctc(root, seq, two_cell_labels(frames=3), TRACKS - [0, 0, 2, 0], seg_frames=(0, 2))
    shutil.rmtree(root / "02_GT" / "SEG")
    shutil.rmtree(root / "03_GT")
    (root / "01_ST" / "SEG").mkdir(parents=True)
    tifffile.imwrite(root / "01_ST" / "SEG" / "man_seg001.tif", np.zeros((4, 4), np.uint16))
    for stray in ("notes.txt", "01/notes.txt", "01_GT/TRA/readme.md", "01_ST/notes.txt"):
        (root / stray).write_text("not data")
    return root


FRAMES = ["01/t000.tif", "01/t001.tif", "01/t002.tif"]
GOLD = [
    "01_GT/TRA/man_track000.tif",
    "01_GT/TRA/man_track001.tif",
    "01_GT/TRA/man_track002.tif",
    "01_GT/TRA/man_track.txt",
    "01_GT/SEG/man_seg000.tif",
    "01_GT/SEG/man_seg002.tif",
]
SILVER = ["01_ST/SEG/man_seg001.tif"]


def test_each_rule_reads_the_files_of_its_sequences(own: Path) -> None:
    dataset = DatasetConfig(path=own, train=["01"], test=["02", "03"])
    assert names(wf.preprocess_inputs("own", dataset, "01"), own) == FRAMES + GOLD + SILVER
    assert names(wf.adapt_inputs("own", dataset), own) == FRAMES + GOLD + SILVER
    assert names(wf.select_inputs("own", dataset), own) == GOLD
    assert names(wf.frame_inputs("own", dataset, "01"), own) == FRAMES
    assert names(wf.evaluate_inputs("own", dataset, "02"), own) == [
        f"02_GT/TRA/man_track{t:03d}.tif" for t in range(3)
    ] + ["02_GT/TRA/man_track.txt"]
    assert wf.evaluate_inputs("own", dataset, "03") == []
    assert names(wf.preprocess_inputs("own", dataset, "03"), own) == [
        f"03/t{t:03d}.tif" for t in range(3)
    ]


def test_select_reads_the_validation_sequences_when_there_are_some(own: Path) -> None:
    dataset = DatasetConfig(path=own, train=["02"], validation=["01"], test=["03"])
    assert names(wf.select_inputs("own", dataset), own) == GOLD
    assert names(wf.adapt_inputs("own", dataset), own)[-1] == "02_GT/TRA/man_track.txt"


def test_simulated_dataset_depends_on_the_folder_simulate_writes() -> None:
    dataset = DatasetConfig(simulate={"frames": 4}, train=["01"], test=["02"])
    folder = [paths.SIMULATED.format(dataset="sim")]
    assert wf.adapt_inputs("sim", dataset) == wf.select_inputs("sim", dataset) == folder
    for inputs in (wf.preprocess_inputs, wf.evaluate_inputs, wf.frame_inputs):
        assert inputs("sim", dataset, "02") == folder


def test_still_image_rules_read_their_splits(tmp_path: Path) -> None:
    simulate_images(tmp_path, {"01": 2, "02": 1, "03": 1}, seed=0)
    (tmp_path / "01" / "images" / "notes.txt").write_text("not an image")
    dataset = DatasetConfig(kind="images", path=tmp_path, train=["01"], test=["02"])
    train = ["01/images/img000.tif", "01/images/img001.tif"]
    train += ["01/masks/img000.tif", "01/masks/img001.tif"]
    assert names(wf.images_adapt_inputs("s", dataset), tmp_path) == train
    assert names(wf.images_train_inputs("s", dataset), tmp_path) == train
    assert names(wf.images_select_inputs("s", dataset), tmp_path) == train
    assert names(wf.split_inputs("s", dataset, "02"), tmp_path) == ["02/images/img002.tif"]
    assert names(wf.scored_split_inputs("s", dataset, "02"), tmp_path) == [
        "02/images/img002.tif",
        "02/masks/img002.tif",
    ]
    validated = DatasetConfig(kind="images", path=tmp_path, train=["01"], validation=["03"])
    assert names(wf.images_adapt_inputs("s", validated), tmp_path)[-1] == "03/images/img003.tif"
    assert names(wf.images_select_inputs("s", validated), tmp_path) == [
        "03/images/img003.tif",
        "03/masks/img003.tif",
    ]
    assert wf.IMAGE_SUFFIXES == layout.SUFFIXES


@pytest.fixture(scope="module")
def own_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the tiny workflow on a user's folder: train 01, test 02 (no SEG) and 03 (no GT)."""
    workdir = tmp_path_factory.mktemp("inputs")
    labels = two_cell_labels(frames=5)
    for seq in ("01", "02", "03"):
        write_ctc(workdir / "own", seq, labels, TRACKS, seg_frames=(0, 2, 4))
    shutil.rmtree(workdir / "own" / "02_GT" / "SEG")
    shutil.rmtree(workdir / "own" / "03_GT")
    dataset = {"path": str(workdir / "own"), "train": ["01"], "test": ["02", "03"]}
    write_config(workdir, {**TINY, "datasets": {"own": dataset}})
    result = snakemake(workdir, "--configfile", str(workdir / "config.yaml"))
    assert result.returncode == 0, result.stdout[-3000:]
    return workdir


def scheduled(workdir: Path) -> set[str]:
    """The rules a dry run of the workflow in `workdir` would run (none: nothing to be done)."""
    result = snakemake(workdir, "--configfile", str(workdir / "config.yaml"), "-n")
    assert result.returncode == 0, result.stdout[-3000:]
    if "Nothing to be done" in result.stdout:
        return set()
    table = result.stdout.split("Job stats:", 1)[1].split("Reasons:", 1)[0]
    return set(re.findall(r"^(\w+)\s+\d+$", table, re.MULTILINE)) - {"total"}


@pytest.mark.slow
def test_unrelated_files_schedule_nothing(own_run: Path) -> None:
    root = own_run / "own"
    strays = [root / "notes.txt", root / "01" / "notes.txt", root / "01_GT" / "TRA" / "x.csv"]
    try:
        for stray in strays:
            stray.write_text("not data")
        assert scheduled(own_run) == set()
    finally:
        for stray in strays:
            stray.unlink(missing_ok=True)


def edit(path: Path) -> None:
    """Change a track table (one more line) or a mask (one pixel) of the user's folder."""
    if path.suffix == ".txt":
        path.write_text(path.read_text() + "3 4 4 0\n")
    else:
        mask = tifffile.imread(path)
        mask[0, 0] = 1
        tifffile.imwrite(path, mask)


@pytest.mark.slow
@pytest.mark.parametrize(
    "edited", ["01_GT/TRA/man_track.txt", "01_GT/TRA/man_track002.tif", "01_GT/SEG/man_seg004.tif"]
)
def test_edited_training_truth_schedules_fitting_again(own_run: Path, edited: str) -> None:
    path = own_run / "own" / edited
    content, before = path.read_bytes(), path.stat()
    try:
        edit(path)
        assert FITTING <= scheduled(own_run)
    finally:
        path.write_bytes(content)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.mark.slow
def test_touched_but_unchanged_truth_schedules_nothing(own_run: Path) -> None:
    """Snakemake compares the checksums of inputs up to 1 MB: a newer date alone is no edit."""
    path = own_run / "own" / "01_GT" / "TRA" / "man_track.txt"
    before = path.stat()
    try:
        os.utime(path, (time.time(), time.time()))
        assert scheduled(own_run) == set()
    finally:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.mark.slow
def test_new_silver_truth_schedules_fitting_again(own_run: Path) -> None:
    silver = own_run / "own" / "01_ST" / "SEG"
    try:
        silver.mkdir(parents=True)
        tifffile.imwrite(silver / "man_seg000.tif", two_cell_labels(frames=1)[0])
        assert FITTING <= scheduled(own_run)
    finally:
        shutil.rmtree(silver.parent)


@pytest.mark.slow
def test_edited_test_truth_schedules_its_scoring_not_fitting(own_run: Path) -> None:
    path = own_run / "own" / "02_GT" / "TRA" / "man_track.txt"
    content, before = path.read_bytes(), path.stat()
    try:
        edit(path)
        jobs = scheduled(own_run)
    finally:
        path.write_bytes(content)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert {"preprocess", "evaluate", "metrics"} <= jobs
    assert not jobs & {"adapt", "train", "select", "baseline"}


@pytest.mark.slow
def test_sequence_without_seg_is_scored_on_every_other_metric(own_run: Path) -> None:
    metrics = pd.read_csv(own_run / "results/metrics.csv", dtype={"sequence": str})
    assert set(metrics["sequence"]) == {"02"}  # 03 has no GT
    values = metrics.set_index(["method", "metric"])["value"]
    for method in paths.METHODS:
        assert np.isnan(values[(method, "SEG")])
        assert 0 <= values[(method, "TRA")] <= 1 and 0 <= values[(method, "DET")] <= 1
    assert not set(metrics["metric"]) & {"OP_CSB", "OP_CTB"}
    table = pd.read_csv(own_run / "results/metrics_table.csv", dtype={"sequence": str})
    seg = table[table["metric"] == "SEG"]
    assert len(seg) == 1 and seg[list(paths.METHODS)].isna().all().all()
    log = (own_run / "results/own/logs/evaluate/cosine_02.log").read_text()
    assert log.count("no SEG masks, so no SEG, OP_CSB, OP_CTB") == 1


@pytest.mark.slow
def test_sequence_without_gt_is_tracked_not_scored(own_run: Path) -> None:
    for method in paths.METHODS:
        for template in (paths.RESULT, paths.OVERLAY, paths.LINEAGE, paths.GEFF, paths.OBJECTS):
            assert (own_run / template.format(dataset="own", method=method, seq="03")).exists()
        assert not (own_run / paths.METRICS.format(dataset="own", method=method, seq="03")).exists()
