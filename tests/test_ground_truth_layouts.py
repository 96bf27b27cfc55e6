"""The real workflow trained on each ground-truth layout a user may have, as CTC folders on disk.

Full masks; TRA markers with SEG in every third frame; markers with SEG that leaves cells out;
markers with a silver truth (`_ST`) and no gold SEG at all. Each is written by the simulator as a
user's folder (`path:`), trained end to end, segmented, tracked and scored.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
import zarr
from conftest import TINY, snakemake, write_config

from cosinetrack.config.sections import SimConfig
from cosinetrack.simulate import run_simulate

SIM = SimConfig(height=64, width=64, frames=6, radius=6, seed=3)
LAYOUTS = {
    "full": {},
    "sparse": {"markers": True, "seg_fraction": 0.34},
    "partial": {"markers": True, "seg_coverage": 0.6},
    "silver": {"markers": True, "seg_fraction": 0.0, "silver": True},
}


@pytest.fixture(scope="module")
def layouts_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the workflow once on the four layouts, as four datasets of one config."""
    workdir = tmp_path_factory.mktemp("layouts")
    datasets = {}
    for name, update in LAYOUTS.items():
        run_simulate(workdir / "data" / name, SIM.model_copy(update=update))
        datasets[name] = {"path": str(workdir / "data" / name), "train": ["01"], "test": ["02"]}
    config = {**TINY, "datasets": datasets}
    result = snakemake(workdir, "--configfile", str(write_config(workdir, config)))
    assert result.returncode == 0, result.stdout[-3000:]
    return workdir


@pytest.mark.slow
@pytest.mark.parametrize("name", LAYOUTS)
def test_every_layout_trains_and_records_which_masks_trained(layouts_run: Path, name: str) -> None:
    settings = yaml.safe_load((layouts_run / f"results/{name}/model/settings.yaml").read_text())
    truth = settings["ground_truth"]
    assert truth["choice"] == "gold+silver"
    silver = 6 if name == "silver" else 0
    gold = {"full": 3, "sparse": 2, "partial": 3, "silver": 0}[name]
    assert truth["01"] == {"frames": 6, "gold_seg_frames": gold, "silver_st_frames": silver}
    assert settings["measured"]["source"] == ("ST" if name == "silver" else "SEG")
    log = pd.read_csv(layouts_run / f"results/{name}/train/train_log.csv")
    assert len(log) == TINY["train"]["iterations"] and np.isfinite(log["total"]).all()
    assert (log["background_pull"] > 0).all()  # every layout teaches the background


@pytest.mark.slow
@pytest.mark.parametrize("name", LAYOUTS)
def test_frames_without_full_masks_still_know_their_background(
    layouts_run: Path, name: str
) -> None:
    prep = zarr.open_group(layouts_run / f"results/{name}/prep/01.zarr", mode="r")
    labels, background = prep["labels"][:], prep["background"][:]
    assert (prep["background_pixels"][:] > 0).all()  # every frame, markers-only ones too
    assert not (background & (labels > 0)).any()
    complete = sum(np.array_equal(b, f == 0) for b, f in zip(background, labels, strict=True))
    # full masks and sparse SEG: the SEG frames are complete (TRA is taken as markers elsewhere);
    # partial SEG: no frame is; silver truth: every cell has its mask but where one pixel of
    # outline noise wiped out a sliver at the border
    expected = {"full": [3], "sparse": [2], "partial": [0], "silver": [4, 5, 6]}[name]
    assert complete in expected


@pytest.mark.slow
@pytest.mark.parametrize("name", LAYOUTS)
def test_every_layout_is_segmented_tracked_and_scored(layouts_run: Path, name: str) -> None:
    for method in ("cosine", "baseline"):
        result = layouts_run / f"results/{name}/{method}/02_RES"
        assert len(list(result.glob("mask*.tif"))) == SIM.frames
    metrics = pd.read_csv(layouts_run / "results/metrics.csv", dtype={"sequence": str})
    scored = metrics[metrics["dataset"] == name].set_index(["method", "metric"])["value"]
    assert scored.loc[:, "TRA"].notna().all() and scored.loc[:, "DET"].notna().all()
    # no gold SEG in 02 of the silver layout: scored on every other metric, SEG left empty
    assert scored.loc[:, "SEG"].isna().all() == (name == "silver")
