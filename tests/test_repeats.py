from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import TINY

from cosinetrack import cli
from cosinetrack.report.repeats import seeded_config, summarise


def test_seeded_config_sets_training_and_simulation_seeds() -> None:
    config = {
        "datasets": {"a": {"simulate": {"frames": 5}}, "b": {"path": "/data"}},
        "train": {"iterations": 3},
    }
    seeded = seeded_config(config, 7)
    assert seeded["train"] == {"iterations": 3, "seed": 7}
    assert seeded["datasets"]["a"]["simulate"] == {"frames": 5, "seed": 7}
    assert seeded["datasets"]["b"] == {"path": "/data"}
    assert config["train"] == {"iterations": 3}  # the original is left alone


def test_summary_of_known_tables(tmp_path: Path) -> None:
    tables = {}
    for seed, seg in ((0, 0.5), (1, 0.7)):
        tables[seed] = tmp_path / f"{seed}.csv"
        pd.DataFrame(
            {
                "dataset": ["d", "d"],
                "sequence": ["02", "02"],
                "method": ["cosine", "cosine"],
                "metric": ["SEG", "TRA"],
                "value": [seg, 0.9],
            }
        ).to_csv(tables[seed], index=False)
    summary = summarise(tables).set_index("metric")
    assert summary.loc["SEG", "mean"] == pytest.approx(0.6)
    assert summary.loc["SEG", "std"] == pytest.approx(0.1414, abs=1e-4)
    assert (summary.loc["SEG", "min"], summary.loc["SEG", "max"]) == (0.5, 0.7)
    assert summary.loc["TRA", "std"] == 0.0 and summary.loc["TRA", "seeds"] == 2
    assert summary.loc["SEG", "sequence"] == "02"


@pytest.mark.slow
def test_repeats_run_the_workflow_per_seed(tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    cli.main(["repeats", "--config", str(config), "--seeds", "1", "2", "--out", str(tmp_path)])
    summary = pd.read_csv(tmp_path / "summary.csv", dtype={"sequence": str})
    # Each metric counts the seeds that gave it a value: BC(i), CT and CCA are undefined on a
    # sequence without divisions, which a 6-frame simulation may well be.
    assert summary["seeds"].max() == 2
    assert set(summary[summary["metric"].isin(["SEG", "DET", "TRA"])]["seeds"]) == {2}
    assert {"cosine", "baseline"} == set(summary["method"])
    seg = summary[(summary["metric"] == "SEG") & (summary["method"] == "baseline")]
    assert len(seg) == 1
    # The summary row is made of the two seeds' own metrics tables.
    values = []
    for s in (1, 2):
        table = pd.read_csv(tmp_path / f"seed{s}/results/metrics.csv", dtype={"sequence": str})
        values += table[(table["metric"] == "SEG") & (table["method"] == "baseline")][
            "value"
        ].tolist()
    assert len(values) == 2
    assert seg["mean"].iloc[0] == pytest.approx(sum(values) / 2)
    assert (seg["min"].iloc[0], seg["max"].iloc[0]) == (min(values), max(values))
    # Two seeds simulate two different datasets.
    frames = [
        (tmp_path / f"seed{s}/resources/datasets/tiny/02/t000.tif").read_bytes() for s in (1, 2)
    ]
    assert frames[0] != frames[1]
