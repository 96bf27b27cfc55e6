"""Settings that adapt to a dataset: object size measured in the GT, pixel sizes derived from it."""

import logging
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml
from conftest import disk, write_ctc
from skimage.draw import ellipse

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
    mask_sizes,
    measure_objects,
    measured,
    resolve,
    run_adapt,
    validation_split,
    write_settings,
)

DEFAULTS = targets.stage_defaults(WorkflowConfig.model_validate({"datasets": {"d": {"path": "/"}}}))
ADAPT = AdaptConfig()


def stats(
    diameter: float, shape: tuple[int, int] = (512, 512), coverage: float = 0.25
) -> ObjectStats:
    return ObjectStats(diameter, diameter, diameter, 1.0, "SEG", 100, 40.0, coverage, shape, 40)


def disks_dataset(root: Path, radii: list[float], frames: int = 10) -> Path:
    """One sequence of still disks of the given radii, a track each, SEG on frames 0 and 2."""
    labels = np.zeros((frames, 96, 160), dtype=np.uint16)
    for i, radius in enumerate(radii):
        labels[:, disk((96, 160), (48, 20 + 40 * i), radius)] = i + 1
    tracks = np.array([[i + 1, 0, frames - 1, 0] for i in range(len(radii))])
    return write_ctc(root, "01", labels, tracks, seg_frames=(0, 2))


# Rods 16 px wide and 80 long (ellipses of semi-axes 8 and 40): (centre, rotation); the first two
# lie side by side, touching.
RODS = [((100, 100), 0.0), ((116, 100), 0.0), ((300, 300), np.pi / 2), ((400, 150), 0.3)]
RODS += [((200, 400), 0.3)]


def rod_labels(shape: tuple[int, int], rods: list[tuple[tuple[int, int], float]]) -> np.ndarray:
    """A label image of rods 16 px wide and 80 px long, numbered 1.. in the order given."""
    labels = np.zeros(shape, dtype=np.uint16)
    for i, (centre, rotation) in enumerate(rods):
        rr, cc = ellipse(*centre, 8, 40, shape=shape, rotation=rotation)
        labels[rr, cc] = i + 1
    return labels


def rods_dataset(root: Path, frames: int = 10) -> Path:
    """One sequence of still rods covering 2% of its 512x512 frames, SEG on frames 0 and 2."""
    labels = np.repeat(rod_labels((512, 512), RODS)[None], frames, axis=0)
    tracks = np.array([[i + 1, 0, frames - 1, 0] for i in range(len(RODS))])
    return write_ctc(root, "01", labels, tracks, seg_frames=(0, 2))


def test_elongated_masks_measure_their_width_length_and_elongation() -> None:
    """Ellipses of 16 x 80 px: minor and major axes of about 16 and 80, five times as long."""
    sizes = mask_sizes([rod_labels((512, 512), RODS)])
    stats = measured(sizes, "SEG", sizes.counts, (512, 512), 1)
    assert stats.width == pytest.approx(16, abs=0.5)
    assert stats.length == pytest.approx(80, abs=0.6)
    assert stats.elongation == pytest.approx(5.0, abs=0.2)
    assert stats.diameter == pytest.approx(np.sqrt(16 * 80), abs=0.5)  # equal area
    assert stats.coverage == pytest.approx(len(RODS) * np.pi * 8 * 40 / 512**2, rel=0.03)
    disks = mask_sizes([disk((64, 64), (32, 32), 10).astype(np.uint16)])
    assert disks.widths[0] == pytest.approx(disks.lengths[0], rel=0.02)  # round: elongation 1


def test_rods_are_scaled_by_their_width_and_sized_by_each_dimension(tmp_path: Path) -> None:
    """The scale brings the width to the target; each setting follows its dimension."""
    root = rods_dataset(tmp_path / "data")
    out = tmp_path / "settings.yaml"
    run_adapt(root, ["01"], [], DEFAULTS, {}, ADAPT, out)
    record = yaml.safe_load(out.read_text())
    size = record["measured"]
    assert (size["width"], size["length"], size["elongation"]) == (15.64, 80.51, 5.15)
    assert (size["diameter"], size["coverage"], size["scale_from"]) == (35.49, 0.019, "width")
    assert record["preprocess"] == {"scale": 0.66, "marker_margin": 40.3}  # 10.38 / 15.64
    width, length, area = 15.64 * 0.66, 80.51 * 0.66, 35.49 * 0.66  # working pixels
    target = ADAPT.target_diameter
    assert record["train"] == {
        "neighbour_radius": float(f"{3.0 * length / target:.3g}"),  # 15.4: the length
        "crop": 160,  # 3 lengths (159 px) and more than the area's 144
        "max_instances": 32,
        "object_crops": 0.8,  # 2% of the frames are covered
    }
    assert record["cluster"] == {
        "min_cluster_size": round(20 * (area / target) ** 2),  # 102: the area
        "min_instance_size": round(10 * (area / target) ** 2),
        "coordinate_factor": float(f"{0.01 * target / length:.3g}"),  # 0.00195: the length
    }
    assert record["link"] == {"parent_dilation": round(2 * width / target)}  # 2: the width
    assert record["baseline"] == {
        "block_size": 469,  # 121 * 80.51 / 20.76 = 469.3: the length, odd
        "min_distance": 5,  # 6 * 15.64 / 20.76 = 4.5: the width
        "min_size": round(8 * (35.49 / DEFAULT_DIAMETER) ** 2),  # 23: the area
    }
    assert record["sources"]["train.object_crops"] == "coverage"
    assert record["sources"]["train.crop"] == "object size"


def test_rods_are_round_below_the_elongation_threshold_or_with_a_given_diameter() -> None:
    rods = ObjectStats(35.49, 15.64, 80.51, 5.15, "SEG", 100, 5.0, 0.25, (512, 512), 40)
    as_round = ObjectStats(35.49, 35.49, 35.49, 1.0, "SEG", 100, 5.0, 0.25, (512, 512), 40)
    scale = choose_scale(35.49, ADAPT)
    expected = derived(DEFAULTS, as_round, scale, ADAPT)
    assert derived(DEFAULTS, rods, scale, AdaptConfig(elongation_threshold=6.0)) == expected
    given = replace(rods, source="config")
    assert derived(DEFAULTS, given, scale, ADAPT) == expected


# Settings main's adapt chose (before rods and object-centred crops) for simulated nuclei: the
# default dataset and variants of benchmarks/accuracy.py's SIMULATED table, 10 frames of each.
SHIPPED_GT = {"markers": True, "seg_fraction": 0.25, "seg_coverage": 0.7, "silver": True}
BEFORE = {
    "default": (
        {"sequences": 1},
        {"scale": 0.5, "marker_margin": 10.4, "neighbour_radius": 3.0, "crop": 64},
        {"max_instances": 32, "min_cluster_size": 20, "min_instance_size": 10},
        {"coordinate_factor": 0.01, "parent_dilation": 2},
        {"block_size": 121, "min_distance": 6, "min_size": 8},
    ),
    "sim-r6-sparse": (
        {"frames": 10, "sequences": 1, "radius": 6.0, "density": 0.1},
        {"scale": 0.92, "marker_margin": 5.7, "neighbour_radius": 3.02, "crop": 64},
        {"max_instances": 32, "min_cluster_size": 20, "min_instance_size": 10},
        {"coordinate_factor": 0.00995, "parent_dilation": 2},
        {"block_size": 67, "min_distance": 3, "min_size": 2},
    ),
    "sim-r6-dense": (
        {"frames": 10, "sequences": 1, "radius": 6.0, "density": 0.4},
        {"scale": 0.97, "marker_margin": 5.3, "neighbour_radius": 3.0, "crop": 64},
        {"max_instances": 35, "min_cluster_size": 20, "min_instance_size": 10},
        {"coordinate_factor": 0.01, "parent_dilation": 2},
        {"block_size": 63, "min_distance": 3, "min_size": 2},
    ),
    "sim-r24": (
        {"frames": 10, "sequences": 1, "radius": 24.0},
        {"scale": 0.23, "marker_margin": 22.2, "neighbour_radius": 2.95, "crop": 48},
        {"max_instances": 32, "min_cluster_size": 19, "min_instance_size": 10},
        {"coordinate_factor": 0.0102, "parent_dilation": 2},
        {"block_size": 259, "min_distance": 13, "min_size": 37},
    ),
    "sim-r12-ctc": (
        {"frames": 10, "sequences": 1, **SHIPPED_GT},
        {"scale": 0.48, "marker_margin": 10.8, "neighbour_radius": 2.99, "crop": 64},
        {"max_instances": 32, "min_cluster_size": 20, "min_instance_size": 10},
        {"coordinate_factor": 0.01, "parent_dilation": 2},
        {"block_size": 127, "min_distance": 6, "min_size": 9},
    ),
}
SECTION_OF = {
    **dict.fromkeys(("scale", "marker_margin"), "preprocess"),
    **dict.fromkeys(("neighbour_radius", "crop", "max_instances"), "train"),
    **dict.fromkeys(("min_cluster_size", "min_instance_size", "coordinate_factor"), "cluster"),
    "parent_dilation": "link",
    **dict.fromkeys(("block_size", "min_distance", "min_size"), "baseline"),
}


@pytest.mark.parametrize("name", BEFORE)
def test_round_nuclei_keep_the_settings_chosen_before(name: str, tmp_path: Path) -> None:
    """Nuclei (elongation about 1.3, coverage 10% and more) get exactly main's settings."""
    simulation, *parts = BEFORE[name]
    run_simulate(tmp_path / "sim", SimConfig(**simulation))
    out = tmp_path / "settings.yaml"
    run_adapt(tmp_path / "sim", ["01"], [], DEFAULTS, {}, ADAPT, out)
    record = yaml.safe_load(out.read_text())
    expected: dict[str, dict] = {"train": {"object_crops": 0.0}}
    for key, value in (item for part in parts for item in part.items()):
        expected.setdefault(SECTION_OF[key], {})[key] = value
    assert {section: record[section] for section in expected} == expected
    assert record["measured"]["scale_from"] == "equivalent diameter"
    assert record["measured"]["elongation"] < ADAPT.elongation_threshold


def test_sparse_objects_get_object_centred_crops_and_a_config_value_wins(tmp_path: Path) -> None:
    out = tmp_path / "settings.yaml"
    for coverage, share in ((0.02, 0.8), (0.0499, 0.8), (0.05, 0.0), (0.1, 0.0)):
        write_settings(out, stats(DEFAULT_DIAMETER, coverage=coverage), {}, {}, DEFAULTS, {}, ADAPT)
        assert yaml.safe_load(out.read_text())["train"]["object_crops"] == share, coverage
    explicit = {"train": {"object_crops": 0.3}}
    write_settings(out, stats(DEFAULT_DIAMETER, coverage=0.02), {}, {}, DEFAULTS, explicit, ADAPT)
    record = yaml.safe_load(out.read_text())
    assert record["train"]["object_crops"] == 0.3
    assert record["sources"]["train.object_crops"] == "config"


def test_object_size_is_the_median_equivalent_diameter_of_the_seg_masks(tmp_path: Path) -> None:
    root = disks_dataset(tmp_path / "data", [5.0, 9.0, 14.0])
    measured = measure_objects(root, ["01"])
    middle = disk((96, 160), (48, 60), 9.0).sum()  # the median of the three disks' areas
    assert measured.diameter == round(2 * np.sqrt(middle / np.pi), 2)
    assert (measured.source, measured.objects, measured.frames) == ("SEG", 6, 10)
    assert measured.objects_per_frame == 3.0
    assert measured.frame_shape == (96, 160)


def test_markers_are_never_measured_the_frames_give_the_size_or_the_config(
    tmp_path: Path,
) -> None:
    root = disks_dataset(tmp_path / "data", [6.0, 6.0])
    shutil.rmtree(root / "01_GT" / "SEG")
    estimated = measure_objects(root, ["01"])  # disks of diameter 13 (radius 6, pixel centres)
    assert estimated.source == "estimate" and estimated.objects == 0
    assert estimated.diameter == pytest.approx(
        2 * np.sqrt(disk((96, 160), (48, 20), 6.0).sum() / np.pi), rel=0.1
    )
    assert estimated.elongation == 1.0  # nothing tells the shape: round
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
    # Gold chosen and none left: markers alone, so the frames give the size.
    assert measure_objects(root, ["01"], choice="gold").source == "estimate"


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
    assert chosen["train"] == {
        "neighbour_radius": 3.0,
        "crop": 64,
        "max_instances": 32,
        "object_crops": 0.0,
    }
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
