"""Still-image datasets for tests and measurements: simulated nuclei, and a real image cut apart.

Both write the layout `cosinetrack.stills.dataset` reads: `{split}/images/NAME.tif` with
`{split}/masks/NAME.tif`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import tifffile
from skimage.segmentation import relabel_sequential

from cosinetrack.config.sections import SimConfig
from cosinetrack.formats import ctc, ctc_layout
from cosinetrack.simulate import simulate_sequence

logger = logging.getLogger(__name__)

# Quadrants (row, column) of one image: two train, one chooses the settings, one is scored.
QUADRANT_SPLITS = {"01": [(0, 0), (1, 0)], "03": [(0, 1)], "02": [(1, 1)]}


def write_pair(root: Path, split: str, name: str, image: np.ndarray, mask: np.ndarray) -> None:
    """Write one image and its mask into a split folder."""
    for folder, array in (("images", image), ("masks", mask)):
        (root / split / folder).mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(root / split / folder / name, array, compression="zlib")


def simulate_images(
    root: Path, splits: dict[str, int], size: int = 64, radius: float = 6.0, seed: int = 0
) -> None:
    """Write `splits[split]` simulated nucleus images per split, each from its own seed.

    An image is the first frame of a simulated time-lapse, so it has the simulator's touching
    nuclei, textures and background; its mask is that frame's label image.
    """
    index = 0
    for split, count in splits.items():
        for _ in range(count):
            cfg = SimConfig(height=size, width=size, frames=2, radius=radius, seed=seed + index)
            frame = next(simulate_sequence(cfg, 1).frames())
            labels = relabel_sequential(frame.labels)[0].astype(np.uint16)
            write_pair(Path(root), split, f"img{index:03d}.tif", frame.image, labels)
            index += 1


def quadrant_split(sequence_dir: Path, out: Path) -> dict[str, list[str]]:
    """Cut the first frame of a CTC sequence and its SEG mask into quadrants, one image each.

    The quadrants go to the splits of `QUADRANT_SPLITS` (01 trains, 03 validates, 02 is scored),
    so one annotated image yields disjoint training, validation and test areas; objects cut by
    a quadrant border count as objects of both parts. Returns the file names per split.
    """
    sequence_dir = Path(sequence_dir)
    image = ctc.read_frame(ctc_layout.frame_paths(sequence_dir)[0])
    seg = sorted((sequence_dir.parent / f"{sequence_dir.name}_GT" / "SEG").glob("*.tif"))
    if not seg:
        raise ValueError(f"{sequence_dir}_GT/SEG: no mask to split along with the image")
    mask = ctc.read_label_frame(seg[0])
    half_y, half_x = image.shape[0] // 2, image.shape[1] // 2
    names: dict[str, list[str]] = {}
    for split, quadrants in QUADRANT_SPLITS.items():
        for row, col in quadrants:
            box = np.s_[row * half_y : (row + 1) * half_y, col * half_x : (col + 1) * half_x]
            labels = relabel_sequential(mask[box])[0].astype(np.uint16)
            name = f"q{row}{col}.tif"
            write_pair(Path(out), split, name, image[box], labels)
            names.setdefault(split, []).append(name)
    logger.info("split %s into %s", sequence_dir, names)
    return names
