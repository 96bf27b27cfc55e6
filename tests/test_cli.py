"""Every stage through the command line, chained on a hand-made CTC dataset."""

from pathlib import Path

import numpy as np
import pandas as pd
import yaml
import zarr
from conftest import two_cell_labels, write_ctc

from cosinetrack import cli, ctc

CONFIG = {
    "datasets": {"own": {"path": "unused", "train": ["01"], "test": ["01"]}},
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
