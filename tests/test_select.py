"""Choices on validation frames: checkpoint, clustering and linking, scored by py-ctcmetrics."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from cosinetrack.config.file import WorkflowConfig
from cosinetrack.config.sections import (
    AdaptConfig,
    ClusterConfig,
    InferConfig,
    LinkConfig,
    ModelConfig,
    PreprocessConfig,
    TrainConfig,
)
from cosinetrack.dag import targets
from cosinetrack.model.folder import TrainedModel
from cosinetrack.stages.adapt import run_adapt
from cosinetrack.stages.preprocess import run_preprocess
from cosinetrack.stages.select import (
    Choosing,
    Step,
    choose,
    cluster_options,
    grid,
    link_options,
    run_select,
)
from cosinetrack.stages.train import run_train

MODEL = ModelConfig(levels=2, filters=4, embedding_dim=4)
TRAIN = TrainConfig(iterations=4, crop=32, clip_frames=2, log_every=2, candidates=[0.5, 1.0])


def test_grid_leaves_out_the_base_and_fixed_keys() -> None:
    base = {"a": 1, "b": 10}
    options = {"a": [0, 1, 2], "b": [10, 20]}
    assert list(grid(base, options, set())) == [
        {"a": 1, "b": 20},
        {"a": 0, "b": 10},
        {"a": 0, "b": 20},
        {"a": 2, "b": 10},
        {"a": 2, "b": 20},
    ]
    assert list(grid(base, options, {"b"})) == [{"a": 0}, {"a": 2}]


def test_options_surround_the_current_values() -> None:
    assert cluster_options(ClusterConfig(min_cluster_size=20, min_samples=5)) == {
        "background_threshold": [0.1, 0.3, 0.5, 0.7],
        "min_cluster_size": [10, 20, 40],
    }
    assert link_options(LinkConfig(parent_dilation=3))["parent_dilation"] == [3, 6]


class Scripted:
    """A validation whose criterion comes from a table of tags: the chooser's order and ties."""

    recorded = ("criterion",)

    def __init__(self, criteria: dict[tuple, float]) -> None:
        self.criteria, self.rows, self.reused = criteria, [], []

    def embed(self, model: object, infer: InferConfig) -> list[np.ndarray]:
        return [np.zeros(1)]

    def run(self, stage, embeddings, background, cluster, link, labels=None, **tags):
        self.reused.append(labels is not None)
        key = (stage, *tags.values())
        row = {"stage": stage, **tags, "criterion": self.criteria.get(key, 0.5)}
        self.rows.append(row)
        return row, [np.full(1, len(self.rows))] if labels is None else labels


def test_one_chooser_tries_steps_in_order_and_keeps_ties(monkeypatch) -> None:
    model = SimpleNamespace(background_direction=[1.0, 0.0])
    monkeypatch.setattr(TrainedModel, "from_file", lambda path: model)
    candidates = [Path("candidates/iteration000002.pt"), Path("model.pt")]
    cluster, link = ClusterConfig(min_cluster_size=20, min_samples=5), LinkConfig()
    # A tie with the final weights keeps them; a strictly better clustering wins, an equal not.
    validation = Scripted(
        {
            ("checkpoint", "iteration000002.pt"): 0.5,  # ties the final weights' 0.5
            ("cluster", 0.3, 20): 0.6,
            ("cluster", 0.7, 40): 0.6,  # ties the chosen one, tried later
        }
    )
    steps = (Step("cluster", "cluster", cluster_options), Step("link", "link", link_options))
    path, chosen, linked, row = choose(
        validation,
        candidates,
        cluster,
        link,
        {"link": {"parent_dilation": 2}},
        InferConfig(),
        steps,
    )
    assert path.name == "model.pt" and row["criterion"] == 0.6
    assert (chosen.background_threshold, chosen.min_cluster_size) == (0.3, 20)
    assert linked == link
    stages = [r["stage"] for r in validation.rows]
    assert stages == ["checkpoint"] * 2 + ["cluster"] * 11 + ["link"] * 2
    # Clustering steps recluster; linking steps reuse the chosen clustering's labels.
    assert validation.reused == [False] * 13 + [True] * 2


@pytest.fixture
def trained(two_cells: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """Settings, a preprocessed store and a training folder (two candidates) of `two_cells`."""
    cfg = WorkflowConfig.model_validate({"datasets": {"own": {"path": str(two_cells)}}})
    defaults = {**targets.stage_defaults(cfg), "train": TRAIN.model_dump()}
    settings = tmp_path / "model" / "settings.yaml"
    run_adapt(two_cells, ["01"], [], defaults, {}, AdaptConfig(), settings)
    store = tmp_path / "prep" / "01.zarr"
    run_preprocess(two_cells, "01", store, PreprocessConfig(scale=1.0))
    run_train([store], tmp_path / "train", MODEL, TRAIN, stops=[2])
    return settings, store, tmp_path / "train"


def test_select_scores_every_candidate_and_setting(
    two_cells: Path, trained, tmp_path: Path
) -> None:
    settings, store, train_dir = trained
    assert yaml.safe_load(settings.read_text())["validation"]["held_back"] == {"01": [2, 4]}
    params = targets.stage_defaults(
        WorkflowConfig.model_validate({"datasets": {"d": {"path": "/"}}})
    )
    out = tmp_path / "model"
    explicit = {
        "cluster": {"min_cluster_size": 5, "min_samples": 3},
        "link": {"parent_dilation": 1},
    }
    run_select(Choosing(train_dir, settings, params, explicit, True, out), {"01": store}, two_cells)
    rows = pd.read_csv(out / "validation.csv")
    # two checkpoints; clustering: 4 thresholds (min_cluster_size is the user's) less the base;
    # separation: 3 coordinate weights x 3 selection epsilons x a single cluster allowed or not,
    # less the base;
    # linking: 3 IoU thresholds (parent_dilation is the user's) less the base; outlines: the
    # cosine at 5 thresholds besides the clustering's, or the masks alone (threshold unused)
    stages = ["checkpoint"] * 2 + ["cluster"] * 3 + ["coordinates"] * 17
    assert rows["stage"].tolist() == stages + ["link"] * 2 + ["outline"] * 6
    coordinates = rows[rows["stage"] == "coordinates"]
    assert set(coordinates["selection_epsilon"]) == {0.0, 0.1, 0.2}
    assert set(coordinates["allow_single_cluster"]) == {True, False}
    outline = rows[rows["stage"] == "outline"]
    assert outline["outlines"].tolist() == ["embedding"] * 5 + ["labels"]
    assert outline["outline_threshold"].isna().tolist() == [False] * 5 + [True]
    assert record_outlines(out) in {"embedding", "labels"}
    assert rows["checkpoint"].dropna().tolist() == ["model.pt", "iteration000002.pt"]
    assert rows["TRA"].between(0, 1).all() and rows["SEG"].between(0, 1).all()
    record = yaml.safe_load((out / "postprocess.yaml").read_text())
    assert record["cluster"]["min_cluster_size"] == 5 and record["link"]["parent_dilation"] == 1
    best = rows["criterion"].max()
    assert record["validation_scores"]["criterion"] == pytest.approx(best)
    # The kept weights are the best-scoring checkpoint's (the first one on a tie).
    checkpoints = rows[rows["stage"] == "checkpoint"].reset_index(drop=True)
    winner = checkpoints.loc[checkpoints["criterion"].idxmax(), "checkpoint"]
    iteration = {"model.pt": 4, "iteration000002.pt": 2}[winner]
    assert TrainedModel.from_folder(out).record["iteration"] == iteration
    assert (out / "config.yaml").read_text() == (train_dir / "config.yaml").read_text()


def record_outlines(model: Path) -> str:
    """How the chosen post-processing enlarges masks."""
    return yaml.safe_load((model / "postprocess.yaml").read_text())["link"]["outlines"]


def test_without_tuning_the_final_weights_and_derived_settings_are_kept(
    two_cells: Path, trained, tmp_path: Path
) -> None:
    settings, store, train_dir = trained
    params = targets.stage_defaults(
        WorkflowConfig.model_validate({"datasets": {"d": {"path": "/"}}})
    )
    out = tmp_path / "untuned"
    run_select(Choosing(train_dir, settings, params, {}, False, out), {"01": store}, two_cells)
    record = yaml.safe_load((out / "postprocess.yaml").read_text())
    assert record["checkpoint"] == "final" and record["validation_scores"] == {}
    derived = yaml.safe_load(settings.read_text())["cluster"]
    assert record["cluster"] == {
        "background_threshold": 0.5,
        "min_cluster_size": derived["min_cluster_size"],
        "coordinate_factor": derived["coordinate_factor"],
        "selection_epsilon": 0.2,
        "allow_single_cluster": True,
    }
    assert TrainedModel.from_folder(out).record["iteration"] == 4
    assert pd.read_csv(out / "validation.csv").empty
