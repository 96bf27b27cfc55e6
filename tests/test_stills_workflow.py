"""The real Snakemake workflow on a tiny simulated still-image dataset (`kind: images`)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml
from conftest import snakemake, write_config

from cosinetrack.model.folder import TrainedModel
from cosinetrack.stills.dataset import image_paths, read_mask
from cosinetrack.stills.scores import count_image
from cosinetrack.stills.simulate import simulate_images

# Toy sizes: a 2-level network trained for 3 iterations, so the run takes seconds, not minutes.
CONFIG = {
    "model": {"levels": 2, "filters": 4, "embedding_dim": 4},
    "train": {"iterations": 3, "crop": 32, "log_every": 1, "device": "cpu", "clip_frames": 3},
    "infer": {"device": "cpu"},
    "cluster": {"min_cluster_size": 5, "min_samples": 3, "min_instance_size": 3},
}


@pytest.fixture(scope="module")
def still_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the workflow once on 4 training images (one held back) and 2 test images."""
    workdir = tmp_path_factory.mktemp("stills")
    simulate_images(workdir / "data", {"01": 4, "02": 2}, seed=0)
    dataset = {"kind": "images", "path": str(workdir / "data"), "train": ["01"], "test": ["02"]}
    config = {"datasets": {"stills": dataset}, **CONFIG}
    result = snakemake(workdir, "--configfile", str(write_config(workdir, config)))
    assert result.returncode == 0, result.stdout[-3000:]
    return workdir


@pytest.mark.slow
def test_labelled_images_of_both_methods(still_run: Path) -> None:
    names = [p.name for p in image_paths(still_run / "data", "02")]
    for method in ("cosine", "baseline"):
        folder = still_run / "results/stills/images" / method / "02"
        assert sorted(p.name for p in folder.glob("*.tif")) == names
        labels = tifffile.imread(folder / names[0])
        assert labels.dtype == np.uint16 and labels.shape == (64, 64)
    assert not list((still_run / "results").glob("stills/prep"))  # no time-lapse stage ran
    assert not list((still_run / "results").glob("stills/*_RES"))


@pytest.mark.slow
def test_scores_table(still_run: Path) -> None:
    table = pd.read_csv(still_run / "results/stills/images/metrics/02.csv")
    assert table[["method", "image"]].values.tolist() == [
        [method, image]
        for method in ("cosine", "baseline")
        for image in ("img004.tif", "img005.tif", "all")
    ]
    scores = table[["f1", "mean_matched_iou", "seg", "precision", "recall"]]
    assert ((scores >= 0) & (scores <= 1)).all().all()
    pooled = table.set_index(["method", "image"])
    for method in ("cosine", "baseline"):
        assert pooled.loc[(method, "all"), "tp"] == pooled.loc[method, "tp"].iloc[:2].sum()
    # The baseline's row is recomputed from the files it wrote and the masks.
    image = still_run / "data/02/images/img004.tif"
    res = tifffile.imread(still_run / "results/stills/images/baseline/02/img004.tif")
    expected = count_image(read_mask(image, res.shape), res).scores()
    row = pooled.loc[("baseline", "img004.tif")]
    assert row["seg"] == pytest.approx(expected["seg"]) and row["f1"] == pytest.approx(
        expected["f1"]
    )
    assert row["gt_objects"] > 5


@pytest.mark.slow
def test_model_without_recurrence_chosen_on_the_held_back_image(still_run: Path) -> None:
    folder = still_run / "results/stills/images/model"
    model = TrainedModel.from_folder(folder)
    assert model.record["model_config"]["recurrent"] is False
    assert model.record["train_config"]["clip_frames"] == 1  # the config's 3 is overridden
    assert not any("skip" in name for name in model.record["state_dict"])
    settings = yaml.safe_load((folder / "settings.yaml").read_text())
    assert settings["validation"] == {"01": ["img003.tif"]}
    assert settings["measured"]["frames"] == 3  # the held-back image is not measured or trained
    validation = pd.read_csv(folder / "validation.csv")
    assert validation["stage"].iloc[0] == "checkpoint" and "cluster" in set(validation["stage"])
    chosen = yaml.safe_load((folder / "postprocess.yaml").read_text())
    assert set(chosen["cluster"]) == {"background_threshold", "min_cluster_size"}
    log = pd.read_csv(still_run / "results/stills/images/train/train_log.csv")
    assert log["iteration"].tolist() == [1, 2, 3]
    assert (still_run / "results/runtimes.png").is_file()
