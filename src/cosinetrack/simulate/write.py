"""Writing simulated sequences in CTC layout: images, TRA, sparse SEG and silver ground truth."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage as ndi

from cosinetrack.config.sections import SimConfig
from cosinetrack.formats import ctc, ctc_layout
from cosinetrack.formats.atomic import atomic_path
from cosinetrack.simulate.annotate import annotation_rng, markers, outline_noise, partial
from cosinetrack.simulate.movie import SequenceSummary
from cosinetrack.simulate.sequence import simulate_sequence

logger = logging.getLogger(__name__)


def seg_frames(frames: int, fraction: float) -> list[int]:
    """Return the evenly spaced frames that get SEG masks, frame 0 included (none at fraction 0)."""
    if fraction == 0:
        return []
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
    """Simulate one sequence; write its frames, TRA, SEG and (with `silver`) ST under `root`."""
    root = Path(root)
    raw = root / name
    tra = root / f"{name}_GT" / "TRA"
    for folder in (raw, tra):
        folder.mkdir(parents=True, exist_ok=True)
    annotated = set(seg_frames(cfg.frames, cfg.seg_fraction))
    simulation = simulate_sequence(cfg, sequence)
    rng = annotation_rng(cfg.seed, sequence)
    for frame in simulation.frames():
        t = frame.index
        tifffile.imwrite(raw / ctc_layout.mask_name("t", t, cfg.frames), frame.image)
        tracked = markers(frame.labels) if cfg.markers else frame.labels
        ctc.write_label_frame(tra / ctc_layout.mask_name("man_track", t, cfg.frames), tracked)
        if t in annotated:
            write_seg(
                root / f"{name}_GT", t, cfg.frames, partial(frame.labels, cfg.seg_coverage, rng)
            )
        if cfg.silver:
            write_seg(root / f"{name}_ST", t, cfg.frames, outline_noise(frame.labels, rng))
    ctc.write_track_table(tra / "man_track.txt", simulation.tracks)
    return simulation.summary()


def write_seg(truth_dir: Path, t: int, frames: int, labels: np.ndarray) -> None:
    """Write frame `t`'s masks as `SEG/man_segTTT.tif` of a GT or ST folder, numbered 1..n."""
    (truth_dir / "SEG").mkdir(parents=True, exist_ok=True)
    ctc.write_label_frame(
        truth_dir / "SEG" / ctc_layout.mask_name("man_seg", t, frames), seg_relabel(labels)
    )


def run_simulate(out_dir: Path, cfg: SimConfig) -> None:
    """Write the whole dataset (sequences 01, 02, ...) atomically; log a summary per sequence."""
    summaries = {}
    with atomic_path(Path(out_dir)) as partial:
        for sequence in range(1, cfg.sequences + 1):
            name = f"{sequence:02d}"
            summary = write_sequence(partial, name, cfg, sequence)
            summaries[name] = dataclasses.asdict(summary)
            logger.info(
                "sequence %s: %d frames, %.1f %s per frame, %.0f%% touching (median), "
                "%d divisions, %d entries, %d exits, %d tracks",
                name,
                summary.frames,
                summary.nuclei_per_frame,
                cfg.cells,
                100 * summary.touching,
                summary.divisions,
                summary.entries,
                summary.exits,
                summary.tracks,
            )
        record = {"config": cfg.recorded(), "sequences": summaries}
        (partial / "simulation.json").write_text(json.dumps(record, indent=2) + "\n")


def write_ground_truth_result(gt_dir: Path, res_dir: Path, frames: int) -> None:
    """Write a sequence's TRA ground truth as a CTC result folder: the perfect result (checks)."""
    gt = ctc.read_ground_truth(Path(gt_dir), frames)
    ctc.write_result(Path(res_dir), ctc.iter_frames(gt.tra), gt.tracks, frames)
