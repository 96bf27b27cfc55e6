"""Every stage through the command line, chained on a hand-made CTC dataset."""

from pathlib import Path

import numpy as np
import pandas as pd
import yaml
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
