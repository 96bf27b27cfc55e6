"""Settings that adapt to a dataset: object size measured in the GT, pixel sizes derived from it."""

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml
from conftest import disk, write_ctc

from cosinetrack.config.file import WorkflowConfig
from cosinetrack.config.sections import AdaptConfig, ClusterConfig, SimConfig
from cosinetrack.config.settings import stage_config, training_stops
from cosinetrack.dag import targets
from cosinetrack.formats import ctc
from cosinetrack.simulate import run_simulate
from cosinetrack.stages.adapt import (
    DEFAULT_DIAMETER,
    ObjectStats,
    choose_scale,
    derived,
    held_back,
    measure_objects,
    resolve,
    run_adapt,
    validation_split,
)

DEFAULTS = targets.stage_defaults(WorkflowConfig.model_validate({"datasets": {"d": {"path": "/"}}}))
ADAPT = AdaptConfig()


def stats(
    diameter: float, shape: tuple[int, int] = (512, 512), coverage: float = 0.25
) -> ObjectStats:
    return ObjectStats(diameter, "SEG", 100, 40.0, coverage, shape, 40)


def disks_dataset(root: Path, radii: list[float], frames: int = 10) -> Path:
    """One sequence of still disks of the given radii, a track each, SEG on frames 0 and 2."""
    labels = np.zeros((frames, 96, 160), dtype=np.uint16)
    for i, radius in enumerate(radii):
        labels[:, disk((96, 160), (48, 20 + 40 * i), radius)] = i + 1
    tracks = np.array([[i + 1, 0, frames - 1, 0] for i in range(len(radii))])
    return write_ctc(root, "01", labels, tracks, seg_frames=(0, 2))


def test_object_size_is_the_median_equivalent_diameter_of_the_seg_masks(tmp_path: Path) -> None:
    root = disks_dataset(tmp_path / "data", [5.0, 9.0, 14.0])
    measured = measure_objects(root, ["01"])
    middle = disk((96, 160), (48, 60), 9.0).sum()  # the median of the three disks' areas
    assert measured.diameter == round(2 * np.sqrt(middle / np.pi), 2)
    assert (measured.source, measured.objects, measured.frames) == ("SEG", 6, 10)
    assert measured.objects_per_frame == 3.0
    assert measured.frame_shape == (96, 160)


def test_markers_are_never_measured_without_a_diameter_the_key_is_named(tmp_path: Path) -> None:
    root = disks_dataset(tmp_path / "data", [6.0, 6.0])
    shutil.rmtree(root / "01_GT" / "SEG")
    with pytest.raises(
        ValueError, match=r"TRA markers are not outlines: set adapt\.object_diameter"
    ):
        measure_objects(root, ["01"])
    given = measure_objects(root, ["01"], AdaptConfig(object_diameter=12.0))
    assert (given.source, given.diameter, given.objects_per_frame) == ("config", 12.0, 2.0)
    assert given.coverage == round(2 * np.pi * 36 / (96 * 160), 4)


def test_silver_truth_is_measured_where_gold_is_missing_or_not_chosen(tmp_path: Path) -> None:
    root = disks_dataset(tmp_path / "data", [5.0, 9.0, 14.0])
    silver = root / "01_ST" / "SEG"
    silver.mkdir(parents=True)
    labels = np.zeros((96, 160), dtype=np.uint16)
    labels[disk((96, 160), (48, 60), 20.0)] = 1
    for t in range(10):
        tifffile.imwrite(silver / f"man_seg{t:03d}.tif", labels)
    assert measure_objects(root, ["01"]).source == "SEG"  # gold first
    only_silver = measure_objects(root, ["01"], choice="silver")
    assert (only_silver.source, only_silver.objects) == ("ST", 10)
    shutil.rmtree(root / "01_GT" / "SEG")
    assert measure_objects(root, ["01"]).source == "ST"
    with pytest.raises(ValueError, match=r"ground_truth: gold\)"):
        measure_objects(root, ["01"], choice="gold")


def test_the_default_dataset_reproduces_every_default(tmp_path: Path) -> None:
    """The embedded default's nuclei measure 20.76 px: scale 0.5 and the schema's defaults."""
    run_simulate(tmp_path / "sim", SimConfig(sequences=1))
    measured = measure_objects(tmp_path / "sim", ["01"])
    assert measured.diameter == DEFAULT_DIAMETER
    scale = choose_scale(measured.diameter, ADAPT)
    assert scale == 0.5
    for section, values in derived(DEFAULTS, measured, scale, ADAPT).items():
        if section != "preprocess":
            assert values == {key: DEFAULTS[section][key] for key in values}, section


def test_objects_twice_as_large_halve_the_scale_and_keep_working_sizes() -> None:
    chosen = derived(DEFAULTS, stats(2 * DEFAULT_DIAMETER), 0.25, ADAPT)
    assert choose_scale(2 * DEFAULT_DIAMETER, ADAPT) == 0.25
    assert chosen["cluster"] == {
        "min_cluster_size": 20,
        "min_instance_size": 10,
        "coordinate_factor": 0.01,
    }
    assert chosen["train"] == {"neighbour_radius": 3.0, "crop": 64, "max_instances": 32}
    # the baseline works on the original frames: its sizes double (areas four times), odd stays odd
    assert chosen["baseline"] == {"block_size": 243, "min_distance": 12, "min_size": 32}


def test_tiny_objects_are_capped_at_max_scale_and_sizes_follow() -> None:
    assert choose_scale(3.0, ADAPT) == 2.0
    chosen = derived(DEFAULTS, stats(3.0), 2.0, ADAPT)
    ratio = 3.0 * 2.0 / ADAPT.target_diameter
    assert chosen["cluster"]["min_cluster_size"] == round(20 * ratio**2)
    assert chosen["cluster"]["coordinate_factor"] == pytest.approx(0.01 / ratio, rel=1e-2)
    assert chosen["train"]["neighbour_radius"] == pytest.approx(3 * ratio, rel=1e-2)
    assert chosen["train"]["crop"] == 32
    assert chosen["link"]["parent_dilation"] == 1


def test_crop_fits_small_frames_and_dense_data_keeps_more_instances() -> None:
    chosen = derived(DEFAULTS, stats(DEFAULT_DIAMETER, shape=(80, 300), coverage=0.9), 0.5, ADAPT)
    assert chosen["train"]["crop"] == 32  # 40 working pixels high: the largest multiple of 16
    expected = 0.9 * 32 * 32 / (np.pi * (DEFAULT_DIAMETER * 0.5) ** 2 / 4)
    assert chosen["train"]["max_instances"] == max(32, int(np.ceil(2 * expected)))


def test_a_value_set_in_the_config_wins_and_the_log_says_so(caplog) -> None:
    chosen = {"cluster": {"min_cluster_size": 40, "coordinate_factor": 0.005}}
    with caplog.at_level(logging.INFO, logger="cosinetrack.stages.adapt"):
        values, sources = resolve(chosen, {"cluster": {"min_cluster_size": 12}})
    assert values == {"cluster": {"min_cluster_size": 12, "coordinate_factor": 0.005}}
    assert sources == {
        "cluster.min_cluster_size": "config",
        "cluster.coordinate_factor": "object size",
    }
    assert "cluster.min_cluster_size = 12 from the config (the object size gives 40)" in caplog.text


def test_run_adapt_records_what_was_measured_and_chosen(tmp_path: Path) -> None:
    root = disks_dataset(tmp_path / "data", [10.0, 10.0, 10.0])
    out = tmp_path / "model" / "settings.yaml"
    explicit = {"preprocess": {"scale": 0.75}}
    run_adapt(root, ["01"], [], DEFAULTS, explicit, ADAPT, out)
    record = yaml.safe_load(out.read_text())
    assert record["preprocess"] == {"scale": 0.75, "marker_margin": 10.0}  # half the diameter
    assert record["sources"]["preprocess.scale"] == "config"
    assert record["ground_truth"] == {
        "choice": "gold+silver",
        "01": {"frames": 10, "gold_seg_frames": 2, "silver_st_frames": 0},
    }
    assert record["measured"]["frame_shape"] == [96, 160]
    assert record["validation"] == {"sequences": [], "held_back": {"01": [8, 10]}}
    assert training_stops(out, ["01", "02"]) == [8, None]
    assert not list(out.parent.glob("*.partial"))


def test_object_diameter_from_the_config_replaces_the_measurement(tmp_path: Path) -> None:
    root = disks_dataset(tmp_path / "data", [10.0])
    out = tmp_path / "settings.yaml"
    run_adapt(root, ["01"], [], DEFAULTS, {}, AdaptConfig(object_diameter=41.52), out)
    record = yaml.safe_load(out.read_text())
    assert record["measured"]["source"] == "config"
    assert record["preprocess"]["scale"] == 0.25


def test_validation_split_holds_back_the_last_frames(tmp_path: Path) -> None:
    root = disks_dataset(tmp_path / "data", [6.0], frames=40)
    assert validation_split(root, ["01"], [], ADAPT, 4) == {
        "sequences": [],
        "held_back": {"01": [32, 40]},
    }
    assert validation_split(root, ["01"], ["03"], ADAPT, 4) == {
        "sequences": ["03"],
        "held_back": {},
    }
    untuned = AdaptConfig(tune=False)
    assert validation_split(root, ["01"], [], untuned, 4) == {"sequences": [], "held_back": {}}


def test_too_short_a_sequence_to_hold_frames_back_names_the_keys(tmp_path: Path) -> None:
    root = disks_dataset(tmp_path / "data", [6.0], frames=5)
    with pytest.raises(ValueError, match=r"clip_frames: 4\): holding back 2 of 5 .* leaves 3"):
        validation_split(root, ["01"], [], ADAPT, 4)
    with pytest.raises(ValueError, match=r"list a `validation` sequence .* adapt.tune: false"):
        validation_split(root, ["01"], [], ADAPT, 4)


def test_hold_out_rule_takes_the_last_fraction_and_at_least_the_least() -> None:
    assert list(held_back(range(40), ADAPT, 2, 4, "s")) == list(range(32, 40))  # 20 %
    assert list(held_back(range(5), ADAPT, 2, 3, "s")) == [3, 4]  # round(1.0) < a frame pair
    assert list(held_back(range(5), AdaptConfig(tune=False), 2, 3, "s")) == []


def test_stage_config_layers_workflow_files_and_explicit_keys(tmp_path: Path) -> None:
    settings, post = tmp_path / "settings.yaml", tmp_path / "postprocess.yaml"
    settings.write_text(
        yaml.safe_dump({"cluster": {"min_cluster_size": 30, "min_instance_size": 4}})
    )
    post.write_text(
        yaml.safe_dump({"cluster": {"min_cluster_size": 60, "background_threshold": 0.3}})
    )
    params = ClusterConfig().model_dump()
    cfg = stage_config(
        ClusterConfig, "cluster", params, [settings, post], {"cluster": {"min_instance_size": 2}}
    )
    assert (cfg.min_cluster_size, cfg.background_threshold, cfg.min_instance_size) == (60, 0.3, 2)
    assert cfg.chunk_pairs == ClusterConfig().chunk_pairs


def test_a_missing_settings_file_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match="settings not found; a model folder trained before"
    ):
        stage_config(ClusterConfig, "cluster", {}, [tmp_path / "settings.yaml"], {})


def test_measuring_an_empty_ground_truth_names_the_key(tmp_path: Path) -> None:
    labels = np.zeros((3, 32, 32), dtype=np.uint16)
    root = write_ctc(tmp_path / "data", "01", labels, np.zeros((0, 4), dtype=int), seg_frames=(0,))
    with pytest.raises(ValueError, match=r"set adapt\.object_diameter"):
        measure_objects(root, ["01"])


def test_explicit_keys_are_what_the_user_wrote() -> None:
    cfg = WorkflowConfig.model_validate(
        {"datasets": {"d": {"path": "/"}}, "cluster": {"min_samples": 3}, "train": {"crop": 48}}
    )
    explicit = targets.explicit(cfg)
    assert explicit["cluster"] == {"min_samples": 3} and explicit["train"] == {"crop": 48}
    assert explicit["preprocess"] == {} and explicit["link"] == {}


def test_ground_truth_slice_keeps_a_valid_lineage(tmp_path: Path) -> None:
    tracks = np.array([[1, 0, 3, 0], [2, 4, 9, 1], [3, 4, 6, 1], [4, 7, 9, 3], [5, 0, 1, 0]])
    sliced = ctc.slice_tracks(tracks, 5, 10)
    # track 5 ended before the slice; 2 and 3 lose their parent 1 (outside); 4 keeps its mother
    assert sliced.tolist() == [[2, 0, 4, 0], [3, 0, 1, 0], [4, 2, 4, 3]]


def test_ground_truth_slice_is_a_readable_gt_folder(two_cells: Path, tmp_path: Path) -> None:
    out = tmp_path / "01_GT"
    ctc.write_ground_truth_slice(two_cells / "01_GT", 2, 4, out)
    gt = ctc.read_ground_truth(out, 2)
    assert gt.tracks.tolist() == [[1, 0, 1, 0], [2, 0, 1, 0]]
    assert sorted(gt.seg) == [0]  # SEG of original frame 2
    original = ctc.read_label_frame(two_cells / "01_GT" / "TRA" / "man_track003.tif")
    assert np.array_equal(ctc.read_label_frame(gt.tra[1]), original)


def test_validation_sequences_may_not_be_test_sequences() -> None:
    with pytest.raises(ValueError, match="also train or test sequences"):
        WorkflowConfig.model_validate(
            {
                "datasets": {
                    "d": {"path": "/", "train": ["01"], "test": ["02"], "validation": ["02"]}
                }
            }
        )
