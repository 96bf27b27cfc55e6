"""Every refusal of bad input or a broken run names what is wrong: one test per raise site.

The sites here had no test of their own: a 3-D frame, a non-integer CTC mask, a frame index
given twice, labels above uint16, a gap between clustering chunks, chunks that do not cover the
sequence, fewer than 2 frames to track, and a result that py-ctcmetrics marks invalid (behind our
own checks, so its verdict is patched in). GT without SEG is scored, not refused (test_evaluate).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr
from conftest import two_cell_labels, write_ctc
from test_infer import network, prep_store, save_model

from cosinetrack.config.sections import EvaluateConfig, InferConfig, PreprocessConfig
from cosinetrack.formats import ctc, ctc_layout
from cosinetrack.stages import evaluate
from cosinetrack.stages.cluster import run_gather_pairs
from cosinetrack.stages.infer import run_infer
from cosinetrack.stages.preprocess import run_preprocess

TRACKS = np.array([[1, 0, 3, 0], [2, 1, 3, 0]])


def test_3d_frame_is_refused_with_its_shape(tmp_path: Path) -> None:
    path = tmp_path / "t000.tif"
    tifffile.imwrite(path, np.zeros((3, 8, 8), np.uint16), photometric="minisblack")
    with pytest.raises(ctc_layout.CtcFormatError, match=r"t000\.tif: frame has shape \(3, 8, 8\)"):
        ctc.read_frame(path)
    with pytest.raises(
        ctc_layout.CtcFormatError, match=r"t000\.tif: frame has shape \(3, 8, 8\); only"
    ):
        ctc.frame_shape(path)


def test_non_integer_ctc_mask_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "man_track000.tif"
    tifffile.imwrite(path, np.full((8, 8), 1.5, np.float32))
    with pytest.raises(ctc_layout.CtcFormatError, match="must be integer images, got float32"):
        ctc.read_label_frame(path)


def test_negative_mask_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "man_track000.tif"
    tifffile.imwrite(path, np.full((8, 8), -1, np.int16))
    with pytest.raises(ctc_layout.CtcFormatError, match="must not hold negative values"):
        ctc.read_label_frame(path)


def test_frame_index_given_twice_names_both_files(tmp_path: Path) -> None:
    for name in ("t000.tif", "t001.tif", "t0001.tif"):
        tifffile.imwrite(tmp_path / name, np.zeros((8, 8), np.uint16))
    with pytest.raises(
        ctc_layout.CtcFormatError, match=r"t001\.tif: frame 1 also given by t0001\.tif"
    ):
        ctc_layout.frame_paths(tmp_path)


def test_label_above_uint16_is_refused_before_writing(tmp_path: Path) -> None:
    labels = np.zeros((4, 4), np.int64)
    labels[0, 0] = 70000
    with pytest.raises(ctc_layout.CtcFormatError, match="label 70000 does not fit into uint16"):
        ctc.write_label_frame(tmp_path / "mask000.tif", labels)
    assert not (tmp_path / "mask000.tif").exists()


def invalid_verdict(*_args: object) -> int:
    warnings.warn("Label 3 in mask but not in res_track", UserWarning, stacklevel=1)
    return 0


def test_result_py_ctcmetrics_marks_invalid_is_refused_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels = two_cell_labels()
    ctc.write_result(tmp_path / "01_RES", labels, TRACKS, frames=len(labels))
    monkeypatch.setattr("ctc_metrics.metrics.valid", invalid_verdict)
    with pytest.raises(
        ctc_layout.CtcFormatError, match="marks the result invalid: Label 3 in mask"
    ):
        ctc.check_result(tmp_path / "01_RES", frames=len(labels))


def test_evaluation_refuses_a_result_the_evaluator_calls_invalid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels = two_cell_labels()
    root = write_ctc(tmp_path / "data", "01", labels, TRACKS, seg_frames=(0, 2))
    ctc.write_result(tmp_path / "01_RES", labels, TRACKS, frames=len(labels))

    def evaluate_sequence(**_kwargs: object) -> dict[str, float]:
        print("Label 3 in res_track but not in mask")
        return {"Valid": 0}

    monkeypatch.setattr("ctc_metrics.evaluate_sequence", evaluate_sequence)
    with pytest.raises(ValueError, match="marks the result invalid: Label 3 in res_track"):
        evaluate.score(tmp_path / "01_RES", root / "01_GT", EvaluateConfig())


def chunk_store(path: Path, first: int, pairs: int, frames: int) -> Path:
    group = zarr.open_group(path, mode="w")
    group.create_array("labels", data=np.zeros((pairs, 2, 4, 4), np.int32))
    group.attrs.update({"first_pair": first, "pairs": pairs, "frames": frames})
    return path


def test_gap_between_clustering_chunks_is_refused(tmp_path: Path) -> None:
    chunks = [
        chunk_store(tmp_path / "chunk0.zarr", 0, 2, 7),
        chunk_store(tmp_path / "c.zarr", 4, 2, 7),
    ]
    with pytest.raises(ValueError, match=r"c\.zarr: chunk starts at pair 4, expected 2"):
        run_gather_pairs(chunks, tmp_path / "pairs.zarr")
    assert not (tmp_path / "pairs.zarr").exists()


def test_chunks_that_miss_the_last_pairs_are_refused(tmp_path: Path) -> None:
    chunks = [
        chunk_store(tmp_path / "chunk0.zarr", 0, 2, 7),
        chunk_store(tmp_path / "c.zarr", 2, 2, 7),
    ]
    with pytest.raises(ValueError, match="chunks cover 4 pairs of a 7-frame sequence"):
        run_gather_pairs(chunks, tmp_path / "pairs.zarr")


def test_fewer_than_two_frames_cannot_be_tracked(tmp_path: Path) -> None:
    prep = prep_store(tmp_path / "01.zarr", frames=1)
    save_model(tmp_path / "model", network())
    with pytest.raises(ValueError, match=r"01\.zarr: 1 frame\(s\); tracking needs at least 2"):
        run_infer(prep, tmp_path / "model", tmp_path / "emb.zarr", InferConfig(device="cpu"))
    assert not (tmp_path / "emb.zarr").exists()


def test_ground_truth_labels_above_uint16_are_refused_naming_the_file(tmp_path: Path) -> None:
    labels = two_cell_labels().astype(np.uint32)
    root = write_ctc(tmp_path / "data", "01", labels, TRACKS, seg_frames=(0,))
    seg = root / "01_GT" / "SEG" / "man_seg000.tif"
    tifffile.imwrite(seg, np.where(labels[0] > 0, 70000, 0).astype(np.uint32))
    with pytest.raises(
        ctc_layout.CtcFormatError, match=r"man_seg000\.tif: label 70000 is above 65535"
    ):
        run_preprocess(root, "01", tmp_path / "01.zarr", PreprocessConfig())
    assert not (tmp_path / "01.zarr").exists()
    ctc.write_track_table(
        root / "01_GT" / "TRA" / "man_track.txt", np.vstack([TRACKS, [70000, 0, 0, 0]])
    )
    with pytest.raises(
        ctc_layout.CtcFormatError, match=r"man_track\.txt: track label 70000 is above"
    ):
        ctc.read_ground_truth(root / "01_GT", len(labels))
