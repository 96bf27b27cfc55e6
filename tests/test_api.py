"""The Python API (`cosinetrack.track`) against the stages run through their stores, as rules do."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO, TINY, snakemake, two_cell_labels, write_config, write_ctc
from geff.core_io import read_to_memory
from test_export import ALL_CHECKS, lineage_from_geff
from test_infer import network, save_model

import cosinetrack
from cosinetrack.api import model_settings
from cosinetrack.config.sections import (
    AdaptConfig,
    BaselineConfig,
    ClusterConfig,
    InferConfig,
    LinkConfig,
    PreprocessConfig,
)
from cosinetrack.config.settings import stage_config
from cosinetrack.formats import ctc, ctc_layout
from cosinetrack.stages.adapt import choose_scale
from cosinetrack.stages.cluster import run_cluster, run_gather_pairs
from cosinetrack.stages.infer import run_infer
from cosinetrack.stages.link import run_link
from cosinetrack.stages.preprocess import run_preprocess
from cosinetrack.stages.rescale import rescale_model

# A model folder's choices as adapt and select write them (random weights: any embedding will do
# to compare two ways of running the same stages).
SETTINGS = {
    "measured": {"diameter": 13.0, "source": "SEG"},
    "preprocess": {"scale": 0.5, "marker_margin": 6.5},
    "cluster": {"min_cluster_size": 5, "min_instance_size": 3, "coordinate_factor": 0.3},
    "link": {"parent_dilation": 2},
    "sources": {
        "preprocess.scale": "object size",
        "cluster.min_cluster_size": "config",
        "cluster.min_instance_size": "object size",
        "cluster.coordinate_factor": "object size",
        "link.parent_dilation": "object size",
    },
}
POSTPROCESS = {
    "cluster": {"background_threshold": 0.3, "min_samples": 3},
    "link": {"iou_threshold": 0.2},
}
CPU = {"infer": {"device": "cpu"}}


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    folder = save_model(tmp_path / "model", network())
    (folder / "settings.yaml").write_text(yaml.safe_dump(SETTINGS))
    (folder / "postprocess.yaml").write_text(yaml.safe_dump(POSTPROCESS))
    return folder


@pytest.fixture
def sequence(tmp_path: Path) -> Path:
    """A CTC folder with one sequence `01` (two drifting cells) and no ground truth."""
    labels = two_cell_labels(frames=5)
    root = write_ctc(tmp_path / "data", "01", labels, np.array([[1, 0, 4, 0], [2, 1, 4, 0]]))
    return root


def read_frames(folder: Path) -> np.ndarray:
    return np.stack([ctc.read_frame(path) for path in ctc_layout.frame_paths(folder)])


def read_result(res: Path) -> tuple[np.ndarray, np.ndarray]:
    masks = np.stack([ctc.read_label_frame(path) for path in ctc.result_masks(res)])
    return masks, ctc.read_track_table(res / "res_track.txt")


def run_stages(root: Path, model: Path, work: Path) -> Path:
    """Sequence 01 through the stage functions and their stores, configured as the rules do."""
    files = [model / "settings.yaml", model / "postprocess.yaml"]

    def config(cls, section):  # the rule's: the workflow's defaults, then the folder's files
        read = files[:1] if section == "preprocess" else files
        return stage_config(cls, section, cls().model_dump(), read, {})

    run_preprocess(root, "01", work / "prep.zarr", config(PreprocessConfig, "preprocess"))
    run_infer(work / "prep.zarr", model, work / "emb.zarr", InferConfig(device="cpu"), threads=1)
    cluster = config(ClusterConfig, "cluster").model_copy(update={"chunk_pairs": 3})
    chunks = [work / "chunk0.zip", work / "chunk1.zip"]
    for chunk, path in enumerate(chunks):
        run_cluster(work / "emb.zarr", path, cluster, chunk)
    run_gather_pairs(chunks, work / "pairs.zarr")
    run_link(work / "pairs.zarr", work / "prep.zarr", work / "01_RES", config(LinkConfig, "link"))
    return work / "01_RES"


def test_track_equals_the_stages_through_their_stores(
    sequence: Path, model_folder: Path, tmp_path: Path
) -> None:
    masks, tracks = read_result(run_stages(sequence, model_folder, tmp_path))
    frames = read_frames(sequence / "01")
    labels, table = cosinetrack.track(frames, model=model_folder, overrides=CPU, threads=1)
    assert labels.dtype == np.uint16 and labels.shape == frames.shape
    assert table.dtype == np.int64 and table.shape[1] == 4 and len(table) > 0
    assert np.array_equal(labels, masks)
    assert np.array_equal(table, tracks)


def test_geff_is_written_where_asked(sequence: Path, model_folder: Path, tmp_path: Path) -> None:
    frames = read_frames(sequence / "01")
    graph = tmp_path / "out.geff.zarr"
    result = cosinetrack.track(frames, model_folder, geff=graph, overrides=CPU, threads=1)
    assert lineage_from_geff(graph).tolist() == result.tracks.tolist()


def test_settings_are_the_model_folders_then_the_overrides(model_folder: Path) -> None:
    settings = model_settings(model_folder, overrides={"cluster": {"min_samples": 7}})
    assert settings.preprocess.scale == 0.5
    assert settings.cluster.background_threshold == 0.3  # postprocess.yaml
    assert settings.cluster.coordinate_factor == 0.3  # settings.yaml
    assert settings.cluster.min_samples == 7  # the override wins over postprocess.yaml
    assert settings.link.iou_threshold == 0.2 and settings.link.parent_dilation == 2
    assert settings.infer == InferConfig()
    with pytest.raises(ValueError, match=r"unknown sections \['train'\]"):
        model_settings(model_folder, overrides={"train": {"iterations": 1}})


def test_the_models_own_object_diameter_changes_nothing(model_folder: Path) -> None:
    assert model_settings(model_folder, 13.0) == model_settings(model_folder)


def test_object_diameter_scales_as_adapt_does(model_folder: Path) -> None:
    """Objects twice the model's: half the scale, and the pixel settings follow what remains."""
    settings = model_settings(model_folder, object_diameter=26.0)
    assert settings.preprocess.scale == 0.25 == choose_scale(26.0, AdaptConfig(target_diameter=6.5))
    assert settings.cluster == model_settings(model_folder).cluster  # ratio 26 * 0.25 / 6.5 = 1
    settings = model_settings(model_folder, object_diameter=30.0)  # 0.2167 rounds to 0.22
    ratio = 30.0 * 0.22 / 6.5
    assert settings.preprocess.scale == 0.22
    assert settings.cluster.min_instance_size == round(3 * ratio**2)  # an area
    assert settings.cluster.coordinate_factor == float(f"{0.3 / ratio:.3g}")  # inverse length
    assert settings.cluster.min_cluster_size == 5  # set by the model's training config
    assert settings.link.parent_dilation == 2  # round(2 * 1.015)
    small = model_settings(model_folder, object_diameter=2.0)  # 3.25 is above adapt.max_scale
    assert small.preprocess.scale == 2.0 and small.link.parent_dilation == round(2 * 4 / 6.5)
    with pytest.raises(ValueError, match=r"object_diameter: 0\.0; expected"):
        model_settings(model_folder, object_diameter=0.0)


def test_a_rescaled_model_folder_reads_as_the_api_rescales(model_folder, tmp_path) -> None:
    """Rule rescale's files, read as the rules read them, give the API's rescaled settings."""
    rescale_model(model_folder, 30.0, tmp_path / "rescaled")
    files = [tmp_path / "rescaled/settings.yaml", tmp_path / "rescaled/postprocess.yaml"]
    expected = model_settings(model_folder, object_diameter=30.0)
    for section, cls in (
        ("preprocess", PreprocessConfig),
        ("cluster", ClusterConfig),
        ("link", LinkConfig),
    ):
        assert stage_config(cls, section, {}, files, {}) == getattr(expected, section), section
    assert expected.preprocess.scale == 0.22  # not the model's 0.5: the rescaled one is read
    # The baseline segments the frames at their size: its pixel sizes follow 30 / 13.
    baseline = stage_config(BaselineConfig, "baseline", {}, files, {})
    assert baseline.min_size == round(BaselineConfig().min_size * (30 / 13) ** 2)
    record = yaml.safe_load(files[0].read_text())
    assert record["rescaled"] == {
        "model": str(model_folder),
        "object_diameter": 30.0,
        "source": "config",
    }
    assert record["measured"] == SETTINGS["measured"]  # what the model was made for


@pytest.mark.parametrize(
    "frames", [np.zeros((1, 8, 8)), np.zeros((3, 8)), np.zeros((2, 8, 8), dtype=bool)]
)
def test_frames_that_are_no_time_lapse_are_refused(frames: np.ndarray, model_folder) -> None:
    with pytest.raises(ValueError, match="frames: "):
        cosinetrack.track(frames, model_folder)


def test_importing_the_dag_and_config_loads_no_numerics() -> None:
    """`cosinetrack.track` is imported lazily: Snakemake's imports stay free of numpy and torch."""
    code = (
        "import sys, cosinetrack, cosinetrack.dag.targets, cosinetrack.config.settings; "
        "print(sorted({'numpy', 'torch', 'zarr'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert cosinetrack.track is cosinetrack.api.track


# The workflow's own keys in the TINY config that its tiny run clusters and infers with: a config's
# keys win over the model folder's, so the API is given them as overrides.
WORKFLOW_KEYS = {section: TINY[section] for section in ("infer", "cluster")}


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["tiny", "own"])
@pytest.mark.parametrize("diameter", [False, True])
def test_track_equals_the_workflow(tiny_run: Path, dataset: str, diameter: bool) -> None:
    """The workflow's test sequence 02 with its own model: the same masks and track table.

    With `object_diameter` the model's measured one, the API reaches the same scale by adapt's
    rule and again gives the workflow's result.
    """
    results = tiny_run / "results" / dataset
    root = {"tiny": tiny_run / "resources/datasets/tiny", "own": tiny_run / "own"}[dataset]
    model = results / "model"
    measured = yaml.safe_load((model / "settings.yaml").read_text())["measured"]["diameter"]
    # The infer job ran with Snakemake's --cores 2: as many threads, as float sums depend on it.
    labels, tracks = cosinetrack.track(
        read_frames(root / "02"),
        model=model,
        object_diameter=measured if diameter else None,
        overrides=WORKFLOW_KEYS,
        threads=2,
    )
    masks, table = read_result(results / "cosine/02_RES")
    assert len(table) > 0
    assert np.array_equal(labels, masks)
    assert np.array_equal(tracks, table)


@pytest.mark.slow
def test_a_named_model_at_another_diameter_equals_the_api(tiny_run: Path, tmp_path: Path) -> None:
    """A dataset naming a model folder, with adapt.object_diameter: rule rescale's settings,
    and the same masks and tracks as `track` with that object_diameter."""
    model = tiny_run / "results/own/model"
    measured = yaml.safe_load((model / "settings.yaml").read_text())["measured"]["diameter"]
    diameter = round(1.6 * measured, 2)
    reuse = {"path": str(tiny_run / "own"), "model": str(model), "test": ["02"]}
    config = {**TINY, "datasets": {"reuse": reuse}, "adapt": {"object_diameter": diameter}}
    result = snakemake(tmp_path, "--configfile", str(write_config(tmp_path, config)))
    assert result.returncode == 0, result.stdout[-3000:]
    rescaled = yaml.safe_load((tmp_path / "results/reuse/rescaled/settings.yaml").read_text())
    expected = model_settings(model, object_diameter=diameter)
    assert rescaled["preprocess"]["scale"] == expected.preprocess.scale
    assert expected.preprocess.scale != model_settings(model).preprocess.scale
    labels, tracks = cosinetrack.track(
        read_frames(tiny_run / "own/02"),
        model=model,
        object_diameter=diameter,
        overrides=WORKFLOW_KEYS,
        threads=2,
    )
    masks, table = read_result(tmp_path / "results/reuse/cosine/02_RES")
    assert np.array_equal(labels, masks)
    assert np.array_equal(tracks, table)


@pytest.mark.slow
def test_geff_equals_the_export_rules(tiny_run: Path, tmp_path: Path) -> None:
    graph = tmp_path / "02.geff.zarr"
    frames = read_frames(tiny_run / "resources/datasets/tiny/02")
    model = tiny_run / "results/tiny/model"
    cosinetrack.track(frames, model, geff=graph, overrides=WORKFLOW_KEYS, threads=2)
    ours, theirs = (
        read_to_memory(path, data_validation=ALL_CHECKS)
        for path in (graph, tiny_run / "results/tiny/cosine/02.geff.zarr")
    )
    assert np.array_equal(ours["node_ids"], theirs["node_ids"])
    assert np.array_equal(ours["edge_ids"], theirs["edge_ids"])
    assert ours["node_props"].keys() == theirs["node_props"].keys()
    for name, prop in ours["node_props"].items():
        assert np.array_equal(prop["values"], theirs["node_props"][name]["values"]), name


@pytest.mark.slow
def test_readme_example_runs(tiny_run: Path, tmp_path: Path, monkeypatch) -> None:
    """The README's example, on the tiny run's dataset and model instead of the default run's."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)\n```", section, flags=re.S)
    assert len(code.splitlines()) == 5
    code = code.replace("resources/datasets/sim/", f"{tiny_run}/resources/datasets/tiny/")
    code = code.replace("results/sim/", f"{tiny_run}/results/tiny/")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(code, scope)
    assert scope["labels"].shape == scope["frames"].shape == (6, 64, 64)
    assert scope["tracks"].shape[1] == 4
    assert (tmp_path / "02.geff.zarr").is_dir()
