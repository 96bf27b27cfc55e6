"""Writing simulated sequences in CTC layout: images, TRA and sparse SEG ground truth."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage as ndi

from cosinetrack import ctc
from cosinetrack.config import SimConfig
from cosinetrack.simulate.sequence import SequenceSummary, simulate_sequence
from cosinetrack.store import atomic_path

logger = logging.getLogger(__name__)


def seg_frames(frames: int, fraction: float) -> list[int]:
    """Return the evenly spaced frames that get SEG masks, always including frame 0."""
    count = max(1, round(frames * fraction))
    return sorted({int(t) for t in np.linspace(0, frames - 1, count).round()})


def seg_relabel(labels: np.ndarray) -> np.ndarray:
    """Renumber a mask 1..n in raster order of centroids, as SEG annotations are not track ids."""
    present = np.unique(labels)
    present = present[present > 0]
    if not present.size:
        return np.zeros(labels.shape, dtype=np.uint16)
    centroids = np.array(ndi.center_of_mass(np.ones(labels.shape), labels, present)).reshape(-1, 2)
    order = np.lexsort((centroids[:, 1], centroids[:, 0]))
    mapping = {int(present[j]): rank for rank, j in enumerate(order, start=1)}
    return ctc.relabel(labels, mapping)


def write_sequence(root: Path, name: str, cfg: SimConfig, sequence: int) -> SequenceSummary:
    """Simulate one sequence and write `{name}/`, `{name}_GT/TRA` and `{name}_GT/SEG` under root."""
    raw = Path(root) / name
    tra = Path(root) / f"{name}_GT" / "TRA"
    seg = Path(root) / f"{name}_GT" / "SEG"
    for folder in (raw, tra, seg):
        folder.mkdir(parents=True, exist_ok=True)
    annotated = set(seg_frames(cfg.frames, cfg.seg_fraction))
    simulation = simulate_sequence(cfg, sequence)
    for frame in simulation.frames():
        t = frame.index
        tifffile.imwrite(raw / ctc.mask_name("t", t, cfg.frames), frame.image)
        ctc.write_label_frame(tra / ctc.mask_name("man_track", t, cfg.frames), frame.labels)
        if t in annotated:
            ctc.write_label_frame(
                seg / ctc.mask_name("man_seg", t, cfg.frames), seg_relabel(frame.labels)
            )
    ctc.write_track_table(tra / "man_track.txt", simulation.tracks)
    return simulation.summary()


def run_simulate(out_dir: Path, cfg: SimConfig) -> None:
    """Write the whole dataset (sequences 01, 02, ...) atomically; log a summary per sequence."""
    summaries = {}
    with atomic_path(Path(out_dir)) as partial:
        for sequence in range(1, cfg.sequences + 1):
            name = f"{sequence:02d}"
            summary = write_sequence(partial, name, cfg, sequence)
            summaries[name] = dataclasses.asdict(summary)
            logger.info(
                "sequence %s: %d frames, %.1f nuclei per frame, %.0f%% touching (median), "
                "%d divisions, %d entries, %d exits, %d tracks",
                name,
                summary.frames,
                summary.nuclei_per_frame,
                100 * summary.touching,
                summary.divisions,
                summary.entries,
                summary.exits,
                summary.tracks,
            )
        record = {"config": cfg.model_dump(mode="json"), "sequences": summaries}
        (partial / "simulation.json").write_text(json.dumps(record, indent=2) + "\n")


def write_ground_truth_result(gt_dir: Path, res_dir: Path, frames: int) -> None:
    """Write a sequence's TRA ground truth as a CTC result folder: the perfect result (checks)."""
    gt = ctc.read_ground_truth(Path(gt_dir), frames)
    ctc.write_result(Path(res_dir), ctc.iter_frames(gt.tra), gt.tracks, frames)
