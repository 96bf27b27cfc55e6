"""The general model: its training data, the packaged folder, `model: general`, fine-tuning."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import TINY, snakemake, write_config
from test_api import read_frames, read_result

import cosinetrack
from cosinetrack.config.errors import ConfigError, load_workflow_config
from cosinetrack.config.file import DatasetConfig, WorkflowConfig
from cosinetrack.config.sections import ModelConfig, TrainConfig
from cosinetrack.dag import paths
from cosinetrack.dag import targets as wf
from cosinetrack.formats import ctc, ctc_layout
from cosinetrack.model import StackedHourglass
from cosinetrack.model.folder import TrainedModel
from cosinetrack.stages.adapt import mask_sizes
from cosinetrack.stages.general import GENERAL_DIAMETER, SPREAD, Member, write_member
from cosinetrack.stages.train import start_from

GENERAL = Path(paths.GENERAL_MODEL_FOLDER)
SIM = {"simulate": {"height": 64, "width": 64, "frames": 6, "radius": 6, "seed": 3}}


@pytest.mark.parametrize(
    "member",
    [
        Member({"radius": 6.0, "density": 0.3, "height": 96, "width": 96}, jitter=1.2, noise=0.5),
        Member({"radius": 20.0, "density": 0.3, "height": 160, "width": 160}, jitter=0.8),
        Member({"cells": "rods", "height": 96, "width": 96}),
    ],
)
def test_a_member_is_resized_to_its_share_of_the_general_size(member, tmp_path: Path) -> None:
    record = write_member(tmp_path, "01", member, 1)
    gt = ctc.read_ground_truth(tmp_path / "01_GT", 40)  # TRA agrees with man_track.txt
    frames = ctc_layout.frame_paths(tmp_path / "01")
    assert len(frames) == len(gt.tra) == 40
    first = ctc.read_label_frame(gt.tra[0])
    assert ctc.read_frame(frames[0]).dtype == np.uint16
    assert ctc.read_frame(frames[0]).shape == first.shape
    sizes = mask_sizes([first])
    size = np.median(sizes.widths if member.sim.get("cells") == "rods" else sizes.diameters)
    assert size == pytest.approx(GENERAL_DIAMETER * member.jitter, rel=0.1)
    assert record["zoom"] > 0 and record["seed"] == 1001


def test_the_packaged_general_model_is_the_spread_s() -> None:
    """The weights in git load, and their record names the spread this code writes."""
    model = TrainedModel.from_folder(GENERAL)
    assert model.record["model_config"] == ModelConfig().model_dump()  # what init: general fits
    settings = yaml.safe_load((GENERAL / "settings.yaml").read_text())
    assert settings["measured"]["diameter"] == GENERAL_DIAMETER
    assert settings["preprocess"]["scale"] == 0.5
    spread = json.loads((GENERAL / "spread.json").read_text())
    assert spread["diameter"] == GENERAL_DIAMETER
    shipped = [spread[f"{i:02d}"]["sim"] for i in range(1, len(SPREAD) + 1)]
    assert shipped == [member.sim for member in SPREAD]
    assert (GENERAL / "model.pt").stat().st_size < 5e6  # small enough for git


@pytest.mark.parametrize(
    "dataset",
    [{**SIM, "model": "general", "test": ["02"]}, {**SIM, "train": [], "test": ["02"]}],
)
def test_general_or_no_training_uses_the_packaged_model(dataset: dict) -> None:
    cfg = WorkflowConfig(datasets={"d": dataset})
    config = cfg.datasets["d"]
    assert config.general and not config.trains
    assert wf.model_file("d", config) == f"{GENERAL}/model.pt"
    assert wf.settings_path("d", config, cfg, "settings.yaml") == "results/d/rescaled/settings.yaml"
    assert wf.rescale_inputs("d", config, cfg) == ["resources/datasets/d"]  # estimated on it
    assert "results/d/benchmarks/rescale.tsv" in wf.benchmark_files(cfg)
    assert "results/d/benchmarks/train.tsv" not in wf.benchmark_files(cfg)
    sized = cfg.model_copy(update={"adapt": cfg.adapt.model_copy(update={"object_diameter": 9})})
    assert wf.rescale_inputs("d", config, sized) == []  # given: nothing to estimate on


def test_a_trained_dataset_or_a_named_folder_is_not_general() -> None:
    assert not DatasetConfig(**SIM).general
    assert not DatasetConfig(**SIM, model="/models/general").general


def test_still_images_cannot_use_the_general_model(tmp_path: Path) -> None:
    config = {"datasets": {"s": {"path": str(tmp_path), "kind": "images", "train": []}}}
    with pytest.raises(ConfigError, match=r"datasets\.s\.train: the general model segments"):
        load_workflow_config(config)


def test_fine_tuning_reads_the_general_weights() -> None:
    cfg = WorkflowConfig(datasets={"d": SIM}, train=TrainConfig(init="general"))
    assert wf.initial_weights(cfg) == [f"{GENERAL}/model.pt"]
    assert wf.initial_weights(WorkflowConfig(datasets={"d": SIM})) == []
    network = StackedHourglass.from_config(ModelConfig())
    start_from(network, GENERAL / "model.pt", ModelConfig())
    general = TrainedModel.from_folder(GENERAL).network.state_dict()
    for name, tensor in network.state_dict().items():
        assert torch.equal(tensor, general[name]), name


def test_fine_tuning_refuses_another_network() -> None:
    other = ModelConfig(filters=16, levels=3)
    with pytest.raises(ValueError, match=r"model\.levels is 3 here, 4 in it; model\.filters is"):
        start_from(StackedHourglass.from_config(other), GENERAL / "model.pt", other)


@pytest.mark.slow
def test_a_dataset_without_training_is_tracked_with_the_general_model(tmp_path: Path) -> None:
    """No `train`: the general model at the estimated size; the API gives the same result."""
    config = {"datasets": {"new": {**SIM, "train": [], "test": ["02"]}}, "infer": {"device": "cpu"}}
    result = snakemake(tmp_path, "--configfile", str(write_config(tmp_path, config)))
    assert result.returncode == 0, result.stdout[-3000:]
    rescaled = yaml.safe_load((tmp_path / "results/new/rescaled/settings.yaml").read_text())
    assert rescaled["rescaled"]["source"] == "estimate"
    assert rescaled["rescaled"]["object_diameter"] == pytest.approx(10.4, rel=0.2)  # radius 6
    metrics = pd.read_csv(tmp_path / "results/metrics.csv").set_index(["metric", "method"])
    for metric in ("DET", "TRA"):  # 0.77 and 0.76 against the baseline's 0.53 and 0.54
        cosine, baseline = (metrics.loc[(metric, m), "value"] for m in ("cosine", "baseline"))
        assert cosine > max(0.7, baseline), metric
    labels, tracks = cosinetrack.track(read_frames(tmp_path / "resources/datasets/new/02"))
    masks, table = read_result(tmp_path / "results/new/cosine/02_RES")
    assert np.array_equal(labels, masks)
    assert np.array_equal(tracks, table)


@pytest.mark.slow
def test_fine_tuning_starts_from_the_general_model(tmp_path: Path) -> None:
    config = {
        "datasets": {"tuned": {**SIM, "train": ["01"], "test": ["02"]}},
        "train": {**TINY["train"], "init": "general", "iterations": 1},
        "infer": {"device": "cpu"},
    }
    result = snakemake(
        tmp_path,
        "results/tuned/model/model.pt",
        "--configfile",
        str(write_config(tmp_path, config)),
    )
    assert result.returncode == 0, result.stdout[-3000:]
    log = (tmp_path / "results/tuned/logs/train.log").read_text()
    assert f"starting from the weights of {GENERAL}/model.pt" in log
    tuned = TrainedModel.from_folder(tmp_path / "results/tuned/model").network.state_dict()
    general = TrainedModel.from_folder(GENERAL).network.state_dict()
    change = [
        float((tuned[name] - tensor).norm() / (tensor.norm() + 1e-12))
        for name, tensor in general.items()
        if tensor.dtype.is_floating_point and tensor.numel() > 1
    ]
    # One Adam step from the general weights (random ones differ from them by about 100%).
    assert 0 < np.median(change) < 0.05 and max(change) < 0.5
