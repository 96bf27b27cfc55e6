"""Still-image datasets: layout and its errors, config, the network without recurrence, pieces."""

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
import yaml

from cosinetrack.config.file import DatasetConfig, WorkflowConfig
from cosinetrack.config.sections import (
    AdaptConfig,
    BaselineConfig,
    ClusterConfig,
    ModelConfig,
    TrainConfig,
)
from cosinetrack.dag import targets as wf
from cosinetrack.model import StackedHourglass
from cosinetrack.stages.adapt import held_back
from cosinetrack.stills import dataset, layout
from cosinetrack.stills.dataset import run_images_adapt
from cosinetrack.stills.method import cluster_image, still_configs
from cosinetrack.stills.simulate import quadrant_split, simulate_images


@pytest.fixture
def stills(tmp_path: Path) -> Path:
    """Five simulated 64x64 images with masks: four in split 01, one in split 02."""
    simulate_images(tmp_path / "data", {"01": 4, "02": 1}, seed=2)
    return tmp_path / "data"


def test_simulated_layout_and_masks(stills: Path) -> None:
    paths = layout.image_paths(stills, "01")
    assert [p.name for p in paths] == ["img000.tif", "img001.tif", "img002.tif", "img003.tif"]
    mask = dataset.read_mask(paths[0], (64, 64))
    assert mask.dtype == np.uint16 and mask.max() == len(np.unique(mask)) - 1 > 3


def test_missing_mask_names_the_image(stills: Path) -> None:
    (stills / "01/masks/img002.tif").unlink()
    with pytest.raises(ValueError, match=r"img002\.tif: no mask .*masks/img002\.tif"):
        layout.check_images_dataset("s", stills, ["01"], [], ["02"])
    with pytest.raises(ValueError, match=r"img002\.tif: no mask"):
        dataset.read_mask(stills / "01/images/img002.tif", (64, 64))


def test_non_integer_mask_names_the_file(stills: Path) -> None:
    tifffile.imwrite(stills / "01/masks/img001.tif", np.zeros((64, 64), np.float32))
    with pytest.raises(ValueError, match=r"masks/img001\.tif: label masks must be integer"):
        dataset.read_mask(stills / "01/images/img001.tif", (64, 64))


def test_three_d_image_names_the_file(stills: Path) -> None:
    tifffile.imwrite(stills / "01/images/img000.tif", np.zeros((3, 64, 64), np.uint16))
    with pytest.raises(ValueError, match=r"images/img000\.tif: frame has shape \(3, 64, 64\)"):
        dataset.read_image(stills / "01/images/img000.tif")


def test_mask_of_other_shape_and_missing_split(stills: Path) -> None:
    with pytest.raises(ValueError, match=r"masks/img000\.tif: mask of shape \(64, 64\)"):
        dataset.read_mask(stills / "01/images/img000.tif", (32, 64))
    with pytest.raises(ValueError, match=r"03/images: image folder of split 03 not found"):
        layout.image_paths(stills, "03")


def test_held_back_images() -> None:
    """The time-lapses' hold-out rule, on images: at least one held back, one left to train on."""
    paths = [Path(f"{i}.tif") for i in range(6)]
    assert held_back(paths, AdaptConfig(), 1, 1, "split 01") == paths[-1:]  # 20% of 6, at least 1
    assert held_back(paths, AdaptConfig(tune=False), 1, 1, "split 01") == []
    with pytest.raises(ValueError, match="split 01: holding back 1 of 1 for validation leaves 0"):
        held_back(paths[:1], AdaptConfig(), 1, 1, "split 01")


def test_images_dataset_config(stills: Path) -> None:
    with pytest.raises(ValueError, match="kind `images` is read from a folder"):
        DatasetConfig(kind="images", simulate={})
    cfg = WorkflowConfig(
        datasets={"s": {"kind": "images", "path": stills, "train": ["01"], "test": ["02"]}}
    )
    wf.check_sources(cfg)
    assert wf.targets(cfg) == [
        "results/s/images/cosine/02",
        "results/s/images/baseline/02",
        "results/s/images/metrics/02.csv",
        "results/runtimes.png",
    ]
    assert wf.metric_tables(cfg) == [] and wf.stills(cfg).keys() == {"s"}
    assert wf.benchmark_files(cfg) == [
        f"results/{name}.tsv"
        for name in (
            "benchmarks/warm_up_clustering",
            *(f"s/benchmarks/images_{job}" for job in ("adapt", "train", "select")),
            *(f"s/benchmarks/images_{job}/02" for job in ("segment", "baseline", "evaluate")),
        )
    ]


def test_network_without_recurrence_skips_the_convgru() -> None:
    kwargs = {"levels": 2, "filters": 4, "embedding_dim": 4, "stacks": 2}
    recurrent, still = StackedHourglass(**kwargs), StackedHourglass(**kwargs, recurrent=False)
    assert not any("skip" in name for name, _ in still.named_parameters())
    assert sum(p.numel() for p in recurrent.parameters()) > sum(
        p.numel() for p in still.parameters()
    )
    torch.manual_seed(0)
    frames = torch.randn(2, 1, 16, 16)
    first, state = still.step(frames[:1], None)
    again, _ = still.step(frames[:1], state)  # a state from another frame changes nothing
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    model, train = still_configs(ModelConfig(), TrainConfig(clip_frames=4))
    assert (model.recurrent, train.clip_frames) == (False, 1)


def test_cluster_one_frame() -> None:
    """Two touching squares of orthogonal embeddings become two instances; background stays 0."""
    unit = np.zeros((3, 20, 20), np.float32)
    unit[0] = 1.0  # background direction
    unit[:, 4:12, 4:10] = np.array([0, 1, 0], np.float32)[:, None, None]
    unit[:, 4:12, 10:16] = np.array([0, 0, 1], np.float32)[:, None, None]

    cfg = ClusterConfig(min_cluster_size=5, min_samples=3, min_instance_size=3)
    labels = cluster_image(unit, np.array([1, 0, 0], np.float32), cfg)
    assert labels.shape == (20, 20) and labels[0, 0] == 0
    assert len(np.unique(labels[4:12, 4:10])) == len(np.unique(labels[4:12, 10:16])) == 1
    assert labels[5, 5] != labels[5, 12] and (labels > 0).sum() == 96


def test_baseline_writes_one_label_image_per_image(stills: Path, tmp_path: Path) -> None:
    out = tmp_path / "baseline"
    dataset.run_images_baseline(stills, "01", out, BaselineConfig(block_size=31, min_distance=3))
    written = sorted(p.name for p in out.iterdir())
    assert written == [p.name for p in layout.image_paths(stills, "01")]
    labels = tifffile.imread(out / "img000.tif")
    assert labels.dtype == np.uint16 and labels.shape == (64, 64) and labels.max() > 3


def test_adapt_names_held_back_image_and_measures_the_rest(stills: Path, tmp_path: Path) -> None:
    defaults = wf.stage_defaults(WorkflowConfig(datasets={"s": {"simulate": {}}}))
    out = tmp_path / "settings.yaml"
    run_images_adapt(stills, ["01"], [], defaults, {}, AdaptConfig(), out)
    record = yaml.safe_load(out.read_text())
    assert record["validation"] == {"01": ["img003.tif"]}
    assert record["measured"]["frames"] == 3 and record["measured"]["source"] == "masks"
    assert dataset.training_images(stills, ["01"], record)[-1].name == "img002.tif"


def test_quadrant_split(tmp_path: Path) -> None:
    """One annotated frame becomes disjoint quadrants: two train, one validates, one is tested."""
    image = np.arange(16 * 16, dtype=np.uint16).reshape(16, 16)
    mask = np.zeros((16, 16), np.uint16)
    mask[6:10, 6:10] = 5  # one nucleus on the crossing of all four quadrants
    (tmp_path / "ctc/01").mkdir(parents=True)
    (tmp_path / "ctc/01_GT/SEG").mkdir(parents=True)
    tifffile.imwrite(tmp_path / "ctc/01/t000.tif", image)
    tifffile.imwrite(tmp_path / "ctc/01_GT/SEG/man_seg000.tif", mask)
    names = quadrant_split(tmp_path / "ctc/01", tmp_path / "out")
    assert names == {"01": ["q00.tif", "q10.tif"], "03": ["q01.tif"], "02": ["q11.tif"]}
    test_image = tifffile.imread(tmp_path / "out/02/images/q11.tif")
    assert np.array_equal(test_image, image[8:, 8:])
    assert tifffile.imread(tmp_path / "out/02/masks/q11.tif")[:2, :2].tolist() == [[1, 1], [1, 1]]
