"""benchmarks/segmentation_errors.py: error counts of a result against full masks, on TIFFs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import tifffile

REPO = Path(__file__).resolve().parents[1]


def load_script():
    """The benchmark script as a module (benchmarks/ is not a package)."""
    path = REPO / "benchmarks" / "segmentation_errors.py"
    spec = importlib.util.spec_from_file_location("segmentation_errors", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_counts_matched_merged_split_missed_false_and_fragments(tmp_path: Path) -> None:
    truth = np.zeros((40, 60), dtype=np.uint16)
    truth[2:10, 2:10], truth[2:10, 10:18] = 1, 2  # two touching cells: merged below
    truth[20:30, 2:12] = 3  # split in two halves
    truth[20:30, 30:40] = 4  # matched, with a fragment on its edge
    truth[2:8, 40:46] = 5  # missed
    result = np.zeros_like(truth)
    result[2:10, 2:18] = 1
    result[20:25, 2:12], result[25:30, 2:12] = 2, 3
    result[20:30, 30:39], result[20:30, 39] = 4, 5
    result[32:38, 50:56] = 6  # on background: false
    (tmp_path / "RES").mkdir(), (tmp_path / "TRA").mkdir()
    tifffile.imwrite(tmp_path / "RES" / "mask000.tif", result)
    tifffile.imwrite(tmp_path / "TRA" / "man_track000.tif", truth)
    table = load_script().sequence_errors(tmp_path / "RES", tmp_path / "TRA")
    counts = table.drop(columns="frame").sum().to_dict()
    assert counts == {
        "cells": 5,
        "matched": 1,
        "merged": 2,
        "split": 1,
        "missed": 1,
        "instances": 6,
        "false": 1,
        "fragments": 3,
    }
