"""Still-image scores: exact counts on hand-made masks, SEG checked against py-ctcmetrics."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from ctc_metrics.metrics import seg as ctc_seg
from ctc_metrics.utils.representations import match as ctc_match

from cosinetrack.stills.scores import Counts, count_image, overlap_table, run_images_evaluate
from cosinetrack.stills.simulate import write_pair


def squares() -> tuple[np.ndarray, np.ndarray]:
    """GT: three 10x10 squares. Result: one exact, one shifted by 2 rows, a false one; one missed.

    The shifted square overlaps its GT by 8x10 = 80 of a union of 120 pixels: IoU 2/3.
    """
    gt = np.zeros((40, 60), np.uint16)
    gt[0:10, 0:10] = 1
    gt[20:30, 0:10] = 2
    gt[0:10, 30:40] = 3
    res = np.zeros_like(gt)
    res[0:10, 0:10] = 7
    res[22:32, 0:10] = 4
    res[30:40, 50:60] = 9
    return gt, res


def test_exact_counts_and_scores() -> None:
    counts = count_image(*squares())
    assert counts == Counts(gt_objects=3, res_objects=3, tp=2, matched_iou=pytest.approx(5 / 3),
                            seg_iou=pytest.approx(5 / 3))  # fmt: skip
    scores = counts.scores()
    assert scores["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert scores["mean_matched_iou"] == pytest.approx(5 / 6)
    assert scores["seg"] == pytest.approx(5 / 9)
    assert scores["precision"] == scores["recall"] == pytest.approx(2 / 3)


def test_matching_is_one_to_one_at_half_iou() -> None:
    """A GT object cut in three parts (IoU 0.3, 0.3, 0.4) matches none; halves match once."""
    gt = np.zeros((10, 20), np.uint16)
    gt[:, :10] = 1
    res = np.zeros_like(gt)
    res[:, :3], res[:, 3:6], res[:, 6:10] = 1, 2, 3
    counts = count_image(gt, res)
    assert (counts.tp, counts.seg_iou) == (0, 0.0)
    res[:, :5], res[:, 5:10] = 1, 2  # IoU exactly 0.5 each: one pair (>= 0.5), never both
    counts = count_image(gt, res)
    assert (counts.tp, counts.matched_iou, counts.seg_iou) == (1, 0.5, 0.0)
    assert count_image(gt, gt).scores() == {
        "f1": 1.0,
        "mean_matched_iou": 1.0,
        "seg": 1.0,
        "precision": 1.0,
        "recall": 1.0,
    }


def test_empty_images_and_no_background() -> None:
    empty = np.zeros((5, 5), np.uint16)
    assert count_image(empty, empty) == Counts(0, 0, 0, 0.0, 0.0)
    full = np.ones((5, 5), np.uint16)  # one object, no background pixel
    inter, gt_sizes, res_sizes = overlap_table(full, empty)
    assert inter.shape == (1, 0) and gt_sizes.tolist() == [25] and res_sizes.tolist() == []
    assert count_image(full, full).tp == 1
    with pytest.raises(ValueError, match="differ in shape"):
        count_image(full, np.ones((4, 5), np.uint16))


def test_pooling_adds_counts() -> None:
    a = count_image(*squares())
    pooled = a + a
    assert pooled.tp == 4 and pooled.gt_objects == 6
    assert pooled.scores() == pytest.approx(a.scores())


def test_seg_equals_py_ctcmetrics(tmp_path: Path) -> None:
    """Random blob labelings: our SEG is py-ctcmetrics' match + seg on the same files."""
    rng = np.random.default_rng(4)
    for trial in range(5):
        gt = np.zeros((64, 64), np.uint16)
        res = np.zeros_like(gt)
        for label in range(1, 12):
            y, x = rng.integers(0, 56, 2)
            gt[y : y + int(rng.integers(3, 9)), x : x + int(rng.integers(3, 9))] = label
            dy, dx = rng.integers(-3, 4, 2)
            y, x = np.clip([y + dy, x + dx], 0, 56)
            res[y : y + int(rng.integers(3, 9)), x : x + int(rng.integers(3, 9))] = label + 20
        tifffile.imwrite(tmp_path / f"gt{trial}.tif", gt)
        tifffile.imwrite(tmp_path / f"res{trial}.tif", res)
        labels_ref, _, _, _, iou = ctc_match(str(tmp_path / f"gt{trial}.tif"),
                                             str(tmp_path / f"res{trial}.tif"))  # fmt: skip
        expected = ctc_seg([labels_ref], [iou])
        assert count_image(gt, res).scores()["seg"] == pytest.approx(expected, abs=1e-12)


def test_evaluate_writes_per_image_and_pooled_rows(tmp_path: Path) -> None:
    gt, res = squares()
    image = (gt > 0).astype(np.uint16) * 100
    for name in ("a.tif", "b.tif"):
        write_pair(tmp_path / "data", "02", name, image, gt)
        (tmp_path / "res").mkdir(exist_ok=True)
        tifffile.imwrite(tmp_path / "res" / name, res if name == "a.tif" else gt)
    out = tmp_path / "scores.csv"
    run_images_evaluate(tmp_path / "data", "02", {"cosine": tmp_path / "res"}, out)
    table = pd.read_csv(out)
    assert table["image"].tolist() == ["a.tif", "b.tif", "all"]
    assert table["tp"].tolist() == [2, 3, 5]
    assert table.loc[2, "f1"] == pytest.approx(2 * 5 / (2 * 5 + 1 + 1))
    assert table.loc[2, "seg"] == pytest.approx((5 / 3 + 3) / 6)
    (tmp_path / "res" / "b.tif").unlink()
    with pytest.raises(ValueError, match=r"b\.tif: no result"):
        run_images_evaluate(tmp_path / "data", "02", {"cosine": tmp_path / "res"}, out)
