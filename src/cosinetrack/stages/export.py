"""Export a CTC result for viewers and other trackers: a GEFF tracks graph and an object table.

A node is one object in one frame: its frame t, centroid (y, x) in pixels of the original frames,
area in pixels, mask label, track id and lineage id (the track id of its lineage's root). Edges
link a track's objects in consecutive frames, and a mother's last object to each daughter's first.
The table holds the same objects, one row each, with the columns napari's tracks layer takes first
(track_id, t, y, x), then area and parent_track_id.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import geff
import numpy as np
import pandas as pd
from geff.core_io import write_arrays

from cosinetrack.formats import ctc, ctc_layout
from cosinetrack.formats.atomic import atomic_file, atomic_path

logger = logging.getLogger(__name__)

OBJECT_COLUMNS = ["track_id", "t", "y", "x", "area", "parent_track_id"]


def frame_objects(labels: np.ndarray) -> pd.DataFrame:
    """Label, area and centroid (y, x) of every object of one label mask, by label."""
    height, width = labels.shape
    flat = labels.ravel().astype(np.intp)
    area = np.bincount(flat)
    # Sums of integer coordinates are exact in float64, so centroids are sum / area exactly.
    y_sum = np.bincount(flat, weights=np.repeat(np.arange(height, dtype=np.float64), width))
    x_sum = np.bincount(flat, weights=np.tile(np.arange(width, dtype=np.float64), height))
    present = np.flatnonzero(area)
    present = present[present > 0]
    return pd.DataFrame(
        {
            "track_id": present.astype(np.int64),
            "y": y_sum[present] / area[present],
            "x": x_sum[present] / area[present],
            "area": area[present].astype(np.int64),
        }
    )


def object_table(res_dir: Path) -> pd.DataFrame:
    """One row per object and frame of a CTC result (label = track id), checked against its table.

    Rows are sorted by frame, then track id; `parent_track_id` is 0 for tracks without a parent.
    """
    res_dir = Path(res_dir)
    masks = ctc.result_masks(res_dir)
    tracks = ctc.read_track_table(res_dir / "res_track.txt")
    frames = ((path, ctc.read_label_frame(path)) for path in masks)
    return tracked_objects(frames, tracks, len(masks), res_dir)


def tracked_objects(
    frames: Iterable[tuple[Path, np.ndarray]], tracks: np.ndarray, count: int, where: Path
) -> pd.DataFrame:
    """The object table of `count` label frames (each named by a path) and their track table.

    Each frame is checked against the table; `where` names the result in messages.
    """
    spans = ctc.track_spans(tracks)
    late = tracks[tracks[:, 2] >= count]
    if len(late):
        raise ctc_layout.CtcFormatError(
            f"{where}: track {late[0, 0]} ends at frame {late[0, 2]}, "
            f"but there are only {count} masks"
        )
    objects = []
    for t, (path, labels) in enumerate(frames):
        ctc.check_frame_labels(path, labels, t, spans)
        objects.append(frame_objects(labels).assign(t=t))
    table = pd.concat(objects, ignore_index=True)
    parents = {int(label): int(parent) for label, _, _, parent in tracks}
    table["parent_track_id"] = table["track_id"].map(parents).astype(np.int64)
    return table[OBJECT_COLUMNS].astype({"t": np.int64})


def lineage_ids(table: pd.DataFrame) -> np.ndarray:
    """The track id of the root of each row's lineage (its track's oldest ancestor)."""
    parents = dict(zip(table["track_id"], table["parent_track_id"], strict=True))
    roots = {}
    for track in parents:
        root = track
        while parents.get(root, 0):
            root = parents[root]
        roots[track] = root
    return table["track_id"].map(roots).to_numpy(np.int64)


def graph_edges(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Node-index pairs of links and of divisions, for nodes numbered by the table's rows.

    Links join a track's objects in consecutive frames; divisions join a mother's last object to
    each daughter's first.
    """
    order = table.sort_values(["track_id", "t"]).index.to_numpy()
    ids = table["track_id"].to_numpy()[order]
    same = ids[1:] == ids[:-1]
    links = np.stack([order[:-1][same], order[1:][same]], axis=1).reshape(-1, 2)
    by_track = table.reset_index().groupby("track_id")["index"]
    first, last = by_track.first(), by_track.last()  # rows are in frame order within a track
    daughters = table.loc[first.to_numpy(), ["track_id", "parent_track_id"]]
    daughters = daughters[daughters["parent_track_id"] > 0]
    divisions = np.stack(
        [last[daughters["parent_track_id"]].to_numpy(), first[daughters["track_id"]].to_numpy()],
        axis=1,
    ).reshape(-1, 2)
    return links, divisions


def write_geff(table: pd.DataFrame, geff_path: Path) -> None:
    """Write an object table as a GEFF graph (axes t, y, x) atomically, checked by geff on write.

    Track ids are declared the graph's tracklets only when every mother has two or more
    daughters: a one-daughter mother continues into her daughter without a branch, so by GEFF's
    definition (a tracklet is a maximal path without branches) the two tracks form one tracklet.
    Lineage ids are always declared.
    """
    links, divisions = graph_edges(table)
    edges = np.concatenate([links, divisions]).astype(np.uint64)
    track_id = table["track_id"].to_numpy(np.int64)
    props = {
        "t": (table["t"].to_numpy(np.int64), "frame index"),
        "y": (table["y"].to_numpy(np.float64), "centroid row, pixels of the original frames"),
        "x": (table["x"].to_numpy(np.float64), "centroid column, pixels of the original frames"),
        "area": (table["area"].to_numpy(np.int64), "object area in pixels"),
        "label": (track_id, "label of the object in its frame's mask (mask###.tif)"),
        "track_id": (track_id, "CTC track id (L in res_track.txt)"),
        "lineage_id": (lineage_ids(table), "track id of the root of the object's lineage"),
    }
    mothers = Counter(table.drop_duplicates("track_id")["parent_track_id"].tolist())
    mothers.pop(0, None)
    single = sorted(mother for mother, count in mothers.items() if count == 1)
    track_props = {"lineage": "lineage_id"}
    if single:
        logger.info(
            "%s: mothers %s have one daughter each; track ids are not declared as GEFF tracklets",
            geff_path,
            single[:10],
        )
    else:
        track_props["tracklet"] = "track_id"
    metadata = geff.GeffMetadata(
        directed=True,
        axes=[
            {"name": "t", "type": "time"},
            {"name": "y", "type": "space"},
            {"name": "x", "type": "space"},
        ],
        node_props_metadata={
            name: {"identifier": name, "dtype": values.dtype.name, "description": text}
            for name, (values, text) in props.items()
        },
        edge_props_metadata={},
        track_node_props=track_props,
        display_hints={"display_horizontal": "x", "display_vertical": "y", "display_time": "t"},
    )
    with atomic_path(Path(geff_path)) as partial:
        write_arrays(
            partial,
            node_ids=np.arange(len(table), dtype=np.uint64),
            node_props={name: {"values": v, "missing": None} for name, (v, _) in props.items()},
            edge_ids=edges,
            edge_props={},
            metadata=metadata,
        )
    logger.info(
        "%s: %d nodes, %d links, %d division edges",
        geff_path,
        len(table),
        len(links),
        len(divisions),
    )


def write_objects(table: pd.DataFrame, objects_path: Path) -> None:
    """Write the object table as CSV under a temporary name, then rename it into place."""
    with atomic_file(objects_path) as partial:
        table.to_csv(partial, index=False)


def run_export(res_dir: Path, geff_path: Path, objects_path: Path) -> None:
    """Export a CTC result folder as a GEFF tracks graph and a per-object CSV table."""
    table = object_table(Path(res_dir))
    write_geff(table, Path(geff_path))
    write_objects(table, Path(objects_path))
