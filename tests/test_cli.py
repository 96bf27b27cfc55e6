"""Every stage through the command line, chained on a hand-made CTC dataset."""

from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
import yaml
import zarr
from conftest import two_cell_labels, write_ctc

from cosinetrack import cli
from cosinetrack.formats import ctc
from cosinetrack.model.folder import TrainedModel
from cosinetrack.stills.dataset import image_paths
from cosinetrack.stills.simulate import simulate_images

CONFIG = {
    "datasets": {"own": {"path": "unused", "train": ["01"], "test": ["02"]}},
    "model": {"levels": 2, "filters": 4, "embedding_dim": 4},
    "train": {"iterations": 2, "crop": 32, "clip_frames": 2, "log_every": 1},
    "cluster": {"min_cluster_size": 5, "min_samples": 3, "min_instance_size": 3},
}


def test_every_stage_runs_from_the_command_line(tmp_path: Path) -> None:
    labels = two_cell_labels(frames=5)
    root = write_ctc(tmp_path / "data", "01", labels, np.array([[1, 0, 4, 0], [2, 1, 4, 0]]))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    c = ["--config", str(config)]
    out = tmp_path / "out"
    cli.main(["preprocess", *c, "--root", str(root), "--sequence", "01", "--out", f"{out}/p.zarr"])
    cli.main(["train", *c, "--prep", f"{out}/p.zarr", "--out", f"{out}/model", "--threads", "1"])
    cli.main(
        [
            "infer",
            *c,
            "--prep",
            f"{out}/p.zarr",
            "--model",
            f"{out}/model",
            "--out",
            f"{out}/e.zarr",
            "--threads",
            "1",
        ]
    )
    cli.main(["cluster", *c, "--embeddings", f"{out}/e.zarr", "--out", f"{out}/c0.zarr"])
    cli.main(["gather", "--chunks", f"{out}/c0.zarr", "--out", f"{out}/pairs.zarr"])
    cli.main(
        [
            "link",
            *c,
            "--pairs",
            f"{out}/pairs.zarr",
            "--prep",
            f"{out}/p.zarr",
            "--out",
            f"{out}/01_RES",
        ]
    )
    cli.main(["baseline", *c, "--sequence", str(root / "01"), "--out", f"{out}/b/01_RES"])
    for method, res in (("cosine", out / "01_RES"), ("baseline", out / "b" / "01_RES")):
        ctc.check_result(res, frames=5)
        cli.main(
            [
                "evaluate",
                *c,
                "--res",
                str(res),
                "--gt",
                str(root / "01_GT"),
                "--method",
                method,
                "--out",
                f"{out}/{method}.csv",
            ]
        )
        table = pd.read_csv(out / f"{method}.csv", dtype={"sequence": str})
        assert set(table["method"]) == {method} and set(table["sequence"]) == {"01"}
    baseline = pd.read_csv(out / "baseline.csv").set_index("metric")["value"]
    assert baseline["DET"] == 1.0 and baseline["TRA"] == 1.0


def test_schema_command_prints_the_committed_schema(capsys) -> None:
    from conftest import REPO

    cli.main(["schema"])
    assert capsys.readouterr().out == (REPO / "workflow/schemas/config.schema.yaml").read_text()


def test_adapted_stages_chain_from_the_command_line(tmp_path: Path) -> None:
    """adapt -> preprocess -> train -> select -> infer -> cluster -> link, settings passed on."""
    labels = two_cell_labels(frames=6)
    tracks = np.array([[1, 0, 5, 0], [2, 1, 5, 0]])
    root = write_ctc(tmp_path / "data", "01", labels, tracks, seg_frames=(0, 2, 5))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    out = tmp_path / "out"
    settings, post = f"{out}/model/settings.yaml", f"{out}/model/postprocess.yaml"
    prep, model = f"{out}/01.zarr", f"{out}/model"

    def run(command: str, *args: str) -> None:
        cli.main([command, "--config", str(config), *args])

    run("adapt", "--root", str(root), "--train", "01", "--out", settings)
    chosen = yaml.safe_load(Path(settings).read_text())
    assert chosen["validation"]["held_back"] == {"01": [4, 6]}
    run(
        "preprocess", "--settings", settings, "--root", str(root), "--sequence", "01", "--out", prep
    )
    assert (
        zarr.open_group(prep, mode="r").attrs["preprocess"]["scale"]
        == chosen["preprocess"]["scale"]
    )
    run("train", "--settings", settings, "--prep", prep, "--out", f"{out}/train", "--threads", "1")
    run("select", "--training", f"{out}/train", "--prep", prep, "--root", str(root),
        "--settings", settings, "--out", model, "--threads", "1")  # fmt: skip
    assert yaml.safe_load(Path(post).read_text())["cluster"]["min_cluster_size"] == 5
    run("infer", "--prep", prep, "--model", model, "--out", f"{out}/e.zarr", "--threads", "1")
    run("cluster", "--settings", settings, post, "--embeddings", f"{out}/e.zarr",
        "--out", f"{out}/c0.zarr")  # fmt: skip
    cli.main(["gather", "--chunks", f"{out}/c0.zarr", "--out", f"{out}/pairs.zarr"])
    run("link", "--settings", settings, post, "--pairs", f"{out}/pairs.zarr", "--prep", prep,
        "--out", f"{out}/01_RES")  # fmt: skip
    ctc.check_result(out / "01_RES", frames=6)


def test_image_stages_chain_from_the_command_line(tmp_path: Path) -> None:
    """images-adapt -> -train -> -select -> -segment and -baseline -> -evaluate on still images."""
    simulate_images(tmp_path / "data", {"01": 4, "02": 2}, seed=0)
    root = str(tmp_path / "data")
    config = tmp_path / "config.yaml"
    keep = {"candidates": [0.5, 1.0]}  # weights after iteration 1 too, so select has a choice
    config.write_text(yaml.safe_dump({**CONFIG, "train": {**CONFIG["train"], **keep}}))
    out = tmp_path / "out"
    train, model = out / "train", out / "model"
    settings, post = f"{model}/settings.yaml", f"{model}/postprocess.yaml"

    def run(command: str, *args: str) -> None:
        cli.main([command, "--config", str(config), *args])

    run("images-adapt", "--root", root, "--train", "01", "--out", settings)
    assert yaml.safe_load(Path(settings).read_text())["validation"] == {"01": ["img003.tif"]}
    run("images-train", "--root", root, "--train", "01", "--settings", settings,
        "--out", str(train), "--threads", "1")  # fmt: skip
    assert pd.read_csv(train / "train_log.csv")["iteration"].tolist() == [1, 2]
    assert {p.name for p in train.iterdir()} >= {"model.pt", "config.yaml", "loss.png"}
    assert [p.name for p in (train / "candidates").iterdir()] == ["iteration000001.pt"]
    run("images-select", "--training", str(train), "--root", root, "--settings", settings,
        "--out", str(model), "--threads", "1")  # fmt: skip
    written = {p.name for p in model.iterdir()}
    assert {"model.pt", "config.yaml", "settings.yaml", "postprocess.yaml"} <= written
    validation = pd.read_csv(model / "validation.csv")
    assert validation["stage"].tolist().count("checkpoint") == 2  # both candidates scored
    assert "cluster" in set(validation["stage"])
    record = TrainedModel.from_folder(model).record
    assert record["model_config"]["recurrent"] is False
    assert record["train_config"]["clip_frames"] == 1  # the config's 2 is overridden
    run("images-segment", "--split", "02", "--settings", settings, post, "--root", root,
        "--model", str(model), "--out", f"{out}/cosine/02", "--threads", "1")  # fmt: skip
    run("images-baseline", "--split", "02", "--settings", settings, "--root", root,
        "--out", f"{out}/baseline/02")  # fmt: skip
    names = [p.name for p in image_paths(Path(root), "02")]
    for method in ("cosine", "baseline"):
        folder = out / method / "02"
        assert sorted(p.name for p in folder.glob("*.tif")) == names
        labels = tifffile.imread(folder / names[0])
        assert labels.dtype == np.uint16 and labels.shape == (64, 64)
    run("images-evaluate", "--split", "02", "--root", root, "--cosine", f"{out}/cosine/02",
        "--baseline", f"{out}/baseline/02", "--out", f"{out}/02.csv")  # fmt: skip
    table = pd.read_csv(out / "02.csv", dtype={"split": str})
    pooled = table[table["image"] == "all"].set_index("method")
    assert pooled.index.tolist() == ["cosine", "baseline"] and set(table["split"]) == {"02"}
    assert pooled["seg"].between(0, 1).all() and pooled.loc["baseline", "seg"] > 0.5
