"""Scoring what the ground truth allows: a test sequence with TRA but no SEG masks gets every
metric but the SEG-based ones (SEG, and OP_CSB and OP_CTB that py-ctcmetrics makes from it), and
the tables show an empty SEG cell. Real py-ctcmetrics runs on tiny hand-made CTC folders."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import two_cell_labels, write_ctc

from cosinetrack import report
from cosinetrack.config.sections import EvaluateConfig
from cosinetrack.formats import ctc
from cosinetrack.stages import evaluate

TRACKS = np.array([[1, 0, 3, 0], [2, 1, 3, 0]])
WITHOUT_SEG = {"SEG", "OP_CSB", "OP_CTB"}


@pytest.fixture
def perfect(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A perfect result, its GT with SEG masks, and the same GT without its SEG folder."""
    labels = two_cell_labels()
    with_seg = write_ctc(tmp_path / "with", "01", labels, TRACKS, seg_frames=(0, 2))
    without_seg = write_ctc(tmp_path / "without", "01", labels, TRACKS)
    shutil.rmtree(without_seg / "01_GT" / "SEG")
    ctc.write_result(tmp_path / "01_RES", labels, TRACKS, frames=len(labels))
    return tmp_path / "01_RES", with_seg / "01_GT", without_seg / "01_GT"


def test_scoring_without_seg_gives_every_other_metric(
    perfect: tuple[Path, Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    res, with_seg, without_seg = perfect
    full = evaluate.score(res, with_seg, EvaluateConfig())
    assert WITHOUT_SEG <= full.keys()
    with caplog.at_level(logging.INFO, logger="cosinetrack.stages.evaluate"):
        scores = evaluate.score(res, without_seg, EvaluateConfig())
    assert scores.keys() == full.keys() - WITHOUT_SEG
    assert scores == {key: full[key] for key in scores}
    assert scores["TRA"] == pytest.approx(1.0) and scores["DET"] == pytest.approx(1.0)
    said = [r.getMessage() for r in caplog.records if "no SEG masks" in r.getMessage()]
    assert said == [
        f"{without_seg / 'SEG'}: no SEG masks, so no SEG, OP_CSB, OP_CTB; scoring the other metrics"
    ]


def test_empty_seg_folder_counts_as_no_seg(perfect: tuple[Path, Path, Path]) -> None:
    res, _, without_seg = perfect
    (without_seg / "SEG").mkdir()
    scores = evaluate.score(res, without_seg, EvaluateConfig(metrics=["SEG", "DET", "TRA"]))
    assert "SEG" not in scores and {"DET", "TRA"} <= scores.keys()


def test_tables_show_an_empty_seg_cell(perfect: tuple[Path, Path, Path], tmp_path: Path) -> None:
    res, with_seg, without_seg = perfect
    cfg = EvaluateConfig(metrics=["SEG", "DET", "TRA"])
    tables = []
    for sequence, gt in (("01", with_seg), ("02", without_seg)):
        tables.append(tmp_path / f"cosine_{sequence}.csv")
        labels = {"dataset": "own", "sequence": sequence, "method": "cosine"}
        evaluate.run_evaluate(res, gt, tables[-1], labels, cfg)
    evaluate.run_gather_metrics(tables, tmp_path / "metrics.csv", tmp_path / "p.json", {})
    tidy = pd.read_csv(tmp_path / "metrics.csv", dtype={"sequence": str})
    values = tidy.set_index(["sequence", "metric"])["value"]
    assert np.isnan(values[("02", "SEG")]) and values[("01", "SEG")] == pytest.approx(1.0)
    assert values[("02", "TRA")] == pytest.approx(1.0)
    report.metrics_table(tmp_path / "metrics.csv", tmp_path / "metrics_table.csv")
    lines = (tmp_path / "metrics_table.csv").read_text().splitlines()
    assert lines == [
        "dataset,sequence,metric,cosine",
        "own,01,SEG,1.000",
        "own,01,DET,1.000",
        "own,01,TRA,1.000",
        "own,02,SEG,",
        "own,02,DET,1.000",
        "own,02,TRA,1.000",
    ]
