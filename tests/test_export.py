"""GEFF tracks graph and object table of a CTC result: exact rows, geff's validator, lineage."""

from pathlib import Path

import geff
import numpy as np
import pandas as pd
import pytest
from geff.core_io import read_to_memory
from geff.validate.data import ValidationConfig
from skimage.measure import regionprops

from cosinetrack import cli
from cosinetrack.config.sections import SimConfig
from cosinetrack.formats import ctc, ctc_layout
from cosinetrack.simulate import run_simulate, write_ground_truth_result
from cosinetrack.stages import export as export_stage
from cosinetrack.stages.export import OBJECT_COLUMNS, run_export

ALL_CHECKS = ValidationConfig(graph=True, tracklet=True, lineage=True)


def division_result(res_dir: Path) -> Path:
    """Track 1 (frames 0-1) divides into 2 and 3 (frames 2-3); track 4 sits still in 0-3."""
    masks = np.zeros((4, 8, 10), dtype=np.uint16)
    masks[0, 1:3, 1:4] = 1  # area 6, centroid (1.5, 2.0)
    masks[1, 1:3, 2:5] = 1  # area 6, centroid (1.5, 3.0)
    masks[2:4, 0:2, 1:3] = 2  # area 4, centroid (0.5, 1.5)
    masks[2, 4:6, 1:3] = 3  # area 4, centroid (4.5, 1.5)
    masks[3, 4:7, 1:3] = 3  # area 6, centroid (5.0, 1.5)
    masks[:, 6:8, 6:10] = 4  # area 8, centroid (6.5, 7.5)
    tracks = np.array([[1, 0, 1, 0], [2, 2, 3, 1], [3, 2, 3, 1], [4, 0, 3, 0]])
    ctc.write_result(res_dir, iter(masks), tracks, 4)
    return res_dir


def export(res_dir: Path, out: Path) -> tuple[Path, Path]:
    """Export a result into `out`; return the GEFF and table paths."""
    paths = out / "01.geff.zarr", out / "01_objects.csv"
    run_export(res_dir, *paths)
    return paths


def read_objects(path: Path) -> pd.DataFrame:
    """Read an object table (pandas 3 parses floats exactly as written)."""
    return pd.read_csv(path)


def lineage_from_geff(path: Path) -> np.ndarray:
    """Rebuild the L B E P table from a GEFF graph read back with geff's own reader."""
    graph, _ = geff.read(path)
    nodes = dict(graph.nodes(data=True))
    rows = {}
    for node, data in nodes.items():
        track = data["track_id"]
        _, begin, end, parent = rows.get(track, (track, data["t"], data["t"], 0))
        if data["t"] <= begin:
            others = [nodes[p]["track_id"] for p in graph.predecessors(node)]
            parent = next((p for p in others if p != track), 0)
        rows[track] = (track, min(begin, data["t"]), max(end, data["t"]), parent)
    return np.array(sorted(rows.values()), dtype=np.int64).reshape(-1, 4)


def test_object_table_of_a_division_is_exact(tmp_path: Path) -> None:
    _, objects = export(division_result(tmp_path / "01_RES"), tmp_path / "out")
    table = read_objects(objects)
    assert list(table.columns) == OBJECT_COLUMNS
    assert table.values.tolist() == [
        [1, 0, 1.5, 2.0, 6, 0],
        [4, 0, 6.5, 7.5, 8, 0],
        [1, 1, 1.5, 3.0, 6, 0],
        [4, 1, 6.5, 7.5, 8, 0],
        [2, 2, 0.5, 1.5, 4, 1],
        [3, 2, 4.5, 1.5, 4, 1],
        [4, 2, 6.5, 7.5, 8, 0],
        [2, 3, 0.5, 1.5, 4, 1],
        [3, 3, 5.0, 1.5, 6, 1],
        [4, 3, 6.5, 7.5, 8, 0],
    ]
    assert table.dtypes.astype(str).tolist() == ["int64"] * 2 + ["float64"] * 2 + ["int64"] * 2


def test_geff_of_a_division_is_valid_and_holds_the_lineage(tmp_path: Path) -> None:
    res = division_result(tmp_path / "01_RES")
    path, _ = export(res, tmp_path / "out")
    geff.validate_structure(path)
    memory = read_to_memory(path, data_validation=ALL_CHECKS)
    meta = memory["metadata"]
    assert meta.directed
    assert [(a.name, a.type) for a in meta.axes] == [("t", "time"), ("y", "space"), ("x", "space")]
    assert [(a.min, a.max) for a in meta.axes] == [(0, 3), (0.5, 6.5), (1.5, 7.5)]
    assert meta.track_node_props == {"lineage": "lineage_id", "tracklet": "track_id"}
    assert set(memory["node_props"]) == {"t", "y", "x", "area", "label", "track_id", "lineage_id"}
    assert memory["node_ids"].tolist() == list(range(10))  # the table's rows, in order
    props = {name: prop["values"].tolist() for name, prop in memory["node_props"].items()}
    assert props["label"] == props["track_id"] == [1, 4, 1, 4, 2, 3, 4, 2, 3, 4]
    assert props["lineage_id"] == [1, 4, 1, 4, 1, 1, 4, 1, 1, 4]
    links = {(0, 2), (4, 7), (5, 8), (1, 3), (3, 6), (6, 9)}
    divisions = {(2, 4), (2, 5)}  # track 1 at frame 1 -> tracks 2 and 3 at frame 2
    assert set(map(tuple, memory["edge_ids"].tolist())) == links | divisions
    assert len(memory["edge_ids"]) == 8
    assert lineage_from_geff(path).tolist() == ctc.read_track_table(res / "res_track.txt").tolist()


def test_one_daughter_keeps_the_lineage_but_is_no_geff_tracklet(tmp_path: Path) -> None:
    masks = np.zeros((4, 6, 6), dtype=np.uint16)
    masks[0, 1:3, 1:3] = 1
    masks[2:4, 2:4, 2:5] = 2  # a daughter two frames after her mother ended (a gap)
    tracks = np.array([[1, 0, 0, 0], [2, 2, 3, 1]])
    res = tmp_path / "01_RES"
    ctc.write_result(res, iter(masks), tracks, 4)
    path, objects = export(res, tmp_path / "out")
    memory = read_to_memory(path, data_validation=ALL_CHECKS)
    assert memory["metadata"].track_node_props == {"lineage": "lineage_id"}
    assert memory["edge_ids"].tolist() == [[1, 2], [0, 1]]  # link of track 2, then the division
    assert lineage_from_geff(path).tolist() == tracks.tolist()
    assert read_objects(objects).values.tolist() == [
        [1, 0, 1.5, 1.5, 4, 0],
        [2, 2, 2.5, 3.0, 6, 1],
        [2, 3, 2.5, 3.0, 6, 1],
    ]


def test_empty_result_gives_an_empty_valid_geff_and_a_header(tmp_path: Path) -> None:
    res = tmp_path / "01_RES"
    ctc.write_result(res, iter(np.zeros((3, 5, 5), dtype=np.uint16)), np.zeros((0, 4)), 3)
    path, objects = export(res, tmp_path / "out")
    memory = read_to_memory(path, data_validation=ALL_CHECKS)
    assert memory["node_ids"].shape == (0,) and memory["edge_ids"].shape == (0, 2)
    assert objects.read_text() == ",".join(OBJECT_COLUMNS) + "\n"


def test_simulated_divisions_agree_with_masks_and_track_table(tmp_path: Path) -> None:
    cfg = SimConfig(height=64, width=64, frames=8, sequences=1, radius=6, division_rate=0.2)
    run_simulate(tmp_path / "data", cfg)
    res = tmp_path / "01_RES"
    write_ground_truth_result(tmp_path / "data" / "01_GT", res, cfg.frames)
    tracks = ctc.read_track_table(res / "res_track.txt")
    assert (tracks[:, 3] > 0).sum() == 4  # two divisions, two daughters each
    path, objects = export(res, tmp_path / "out")
    table = read_objects(objects)
    # Every object of every mask is one row, with regionprops' centroid and area.
    expected = [
        [region.label, t, *region.centroid, region.area]
        for t, mask in enumerate(ctc.result_masks(res))
        for region in regionprops(ctc.read_label_frame(mask))
    ]
    assert table[["track_id", "t", "y", "x", "area"]].values.tolist() == expected
    parents = dict(zip(tracks[:, 0].tolist(), tracks[:, 3].tolist(), strict=True))
    assert table["parent_track_id"].tolist() == table["track_id"].map(parents).tolist()
    read_to_memory(path, data_validation=ALL_CHECKS)
    assert lineage_from_geff(path).tolist() == tracks.tolist()


def test_invalid_result_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    res = division_result(tmp_path / "01_RES")
    (res / "res_track.txt").write_text("1 0 1 0\n2 2 3 1\n3 2 3 1\n")  # track 4 left out
    out = tmp_path / "out"
    with pytest.raises(ctc_layout.CtcFormatError, match="label 4 is not in the track table"):
        export(res, out)
    assert not out.exists() or list(out.iterdir()) == []


def test_export_runs_from_the_command_line(tmp_path: Path) -> None:
    res = division_result(tmp_path / "01_RES")
    geff_path, objects = tmp_path / "cli" / "01.geff.zarr", tmp_path / "cli" / "01_objects.csv"
    cli.main(["export", "--res", str(res), "--geff", str(geff_path), "--objects", str(objects)])
    assert lineage_from_geff(geff_path).tolist() == [
        [1, 0, 1, 0],
        [2, 2, 3, 1],
        [3, 2, 3, 1],
        [4, 0, 3, 0],
    ]
    assert len(read_objects(objects)) == 10
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == [
        "01.geff.zarr",
        "01_objects.csv",
    ]


def test_failed_writes_leave_neither_output_nor_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    res = division_result(tmp_path / "01_RES")
    out = tmp_path / "out"

    def half_written_geff(store: Path, **_: object) -> None:
        (Path(store) / "nodes").mkdir(parents=True)
        raise RuntimeError("disk full")

    monkeypatch.setattr(export_stage, "write_arrays", half_written_geff)
    with pytest.raises(RuntimeError, match="disk full"):
        export(res, out)
    assert list(out.iterdir()) == []

    def half_written_csv(self: pd.DataFrame, path: Path, **_: object) -> None:
        Path(path).write_text("track_id,t\n")
        raise RuntimeError("disk full")

    monkeypatch.undo()
    monkeypatch.setattr(pd.DataFrame, "to_csv", half_written_csv)
    with pytest.raises(RuntimeError, match="disk full"):
        export(res, out)
    assert [p.name for p in out.iterdir()] == ["01.geff.zarr"]  # the CSV neither, nor its partial
