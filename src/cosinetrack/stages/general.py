"""The general model's training data: a broad spread of simulated time-lapses at one cell size.

A model knows cells at one working size; any other size is brought to it by the working scale
(`stages.rescale`). So the general model trains on many kinds of simulated sequences (nuclei of
radius 6 to 24 px, sparse to packed, few or many divisions, extra camera noise, and phase-contrast
rods) each resized so that its cells' median diameter (the rods' width) is the general size times
a jitter of 0.8 to 1.25: the network sees the textures, blur and noise that resizing leaves at the
working size, and sizes off by as much as an estimate made on the frames can be.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from skimage.measure import regionprops

from cosinetrack.algorithms.resample import resize_image, resize_labels, scaled_shape
from cosinetrack.config.sections import AdaptConfig, SimConfig
from cosinetrack.formats import ctc, ctc_layout
from cosinetrack.formats.atomic import atomic_path
from cosinetrack.simulate import seg_frames, seg_relabel, sequence_rng, simulate_sequence

logger = logging.getLogger(__name__)

# The cells' diameter in the general dataset's frames: twice the default working size, so the
# general model's scale is the embedded default's 0.5.
GENERAL_DIAMETER = round(2 * AdaptConfig().target_diameter, 2)
FRAMES = 40
SEED = 1000  # member i is simulated with seed SEED + i: no dataset of the accuracy table's


@dataclass(frozen=True)
class Member:
    """One sequence of the spread: what is simulated, how far off the general size, extra noise."""

    sim: dict[str, Any]  # SimConfig keys
    jitter: float = 1.0  # the cells' size in the dataset relative to GENERAL_DIAMETER
    noise: float = 0.0  # Gaussian noise added, relative to the frame's standard deviation


SPREAD = (
    Member({"radius": 6.0, "density": 0.1}),
    Member({"radius": 6.0, "density": 0.45}, jitter=0.9),
    Member({"radius": 9.0, "density": 0.3, "division_rate": 0.05}, jitter=1.1),
    Member({"radius": 12.0, "density": 0.25, "division_rate": 0.1}),
    Member({"radius": 12.0, "density": 0.55}, jitter=0.8),
    Member({"radius": 16.0, "density": 0.35, "height": 384, "width": 384}, jitter=1.25),
    Member({"radius": 24.0, "density": 0.25, "height": 512, "width": 512}),
    Member({"radius": 8.0, "density": 0.25}, noise=0.5),
    Member({"cells": "rods"}),
    Member({"cells": "rods", "rod_width": 12.0, "birth_length": 30.0}, jitter=0.9),
    Member({"radius": 10.0, "density": 0.3}, jitter=1.15, noise=0.25),
    Member({"radius": 14.0, "density": 0.15, "division_rate": 0.03}, jitter=0.9),
)
# Held out of training: the general dataset's own test sequence, a check that training worked.
HELD_OUT = Member({"radius": 11.0, "density": 0.35, "division_rate": 0.03})


def cell_size(labels: np.ndarray, rods: bool) -> float:
    """The median size of a frame's cells: equivalent diameter, or minor axis for rods."""
    regions = regionprops(labels)
    if rods:
        return float(np.median([region.axis_minor_length for region in regions]))
    return float(np.median([region.equivalent_diameter_area for region in regions]))


def noisy(image: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """The frame with Gaussian noise of `noise` times its own standard deviation added."""
    if noise == 0:
        return image
    return image + rng.normal(0.0, noise * float(image.std()), image.shape).astype(np.float32)


def camera_frame(image: np.ndarray) -> np.ndarray:
    """A float frame back as uint16 camera counts."""
    return np.clip(np.rint(image), 0, np.iinfo(np.uint16).max).astype(np.uint16)


def write_member(root: Path, name: str, member: Member, index: int) -> dict[str, Any]:
    """Simulate one member, resize it to its size, write frames, TRA and sparse SEG under `root`."""
    cfg = SimConfig(**{**member.sim, "frames": FRAMES, "seed": SEED + index})
    simulation = simulate_sequence(cfg, 1)
    raw, tra = root / name, root / f"{name}_GT" / "TRA"
    for folder in (raw, tra, root / f"{name}_GT" / "SEG"):
        folder.mkdir(parents=True)
    annotated = set(seg_frames(FRAMES, cfg.seg_fraction))
    rng = sequence_rng(SEED + index, 99)
    zoom = shape = None
    for frame in simulation.frames():
        if zoom is None:
            zoom = GENERAL_DIAMETER * member.jitter / cell_size(frame.labels, cfg.cells == "rods")
            shape = scaled_shape(frame.labels.shape, zoom)
        image = noisy(resize_image(frame.image.astype(np.float32), shape), member.noise, rng)
        labels = resize_labels(frame.labels, shape)
        t = frame.index
        tifffile.imwrite(raw / ctc_layout.mask_name("t", t, FRAMES), camera_frame(image))
        ctc.write_label_frame(tra / ctc_layout.mask_name("man_track", t, FRAMES), labels)
        if t in annotated:
            seg = root / f"{name}_GT" / "SEG" / ctc_layout.mask_name("man_seg", t, FRAMES)
            ctc.write_label_frame(seg, seg_relabel(labels))
    ctc.write_track_table(tra / "man_track.txt", simulation.tracks)
    summary = dataclasses.asdict(simulation.summary())
    return {**dataclasses.asdict(member), "seed": SEED + index, "zoom": round(zoom, 4), **summary}


def spread_names() -> tuple[list[str], str]:
    """The names of the training sequences (01, 02, ...) and of the held-out one after them."""
    names = [f"{index:02d}" for index in range(1, len(SPREAD) + 2)]
    return names[:-1], names[-1]


def write_spread(out_dir: Path) -> None:
    """Write the general model's training sequences and the held-out one, atomically."""
    train, held_out = spread_names()
    members = zip([*train, held_out], [*SPREAD, HELD_OUT], strict=True)
    with atomic_path(Path(out_dir)) as partial:
        record = {}
        for index, (name, member) in enumerate(members, start=1):
            record[name] = write_member(partial, name, member, index)
            logger.info("sequence %s: %s", name, record[name])
        record_file = partial / "spread.json"
        record_file.write_text(json.dumps({"diameter": GENERAL_DIAMETER, **record}, indent=2))
