"""Overlay animation: raw frames with result contours coloured by track id, as a GIF."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cosinetrack.formats import ctc, ctc_layout
from cosinetrack.report.colours import track_colours

if TYPE_CHECKING:
    from PIL import Image

logger = logging.getLogger(__name__)

GREY_LEVELS = 64  # GIF palette entries for the image: 6 bits keep noisy GIFs small (LZW)
MAX_TRACK_COLOURS = 256 - GREY_LEVELS  # palette entries left for contour colours


def sampled_frames(total: int, max_frames: int) -> list[int]:
    """Pick at most `max_frames` evenly spaced frame indices of `total`, first and last included."""
    if total <= 0 or max_frames <= 0:
        return []
    count = min(total, max_frames)
    if count == 1:
        return [0]
    return np.floor(np.linspace(0, total - 1, count) + 0.5).astype(int).tolist()


def contrast_limits(image: np.ndarray) -> tuple[float, float]:
    """Return robust (0.5 %, 99.8 %) intensity limits, so a few bright pixels do not wash out."""
    low, high = np.percentile(image, [0.5, 99.8])
    if high <= low:
        high = low + 1.0
    return float(low), float(high)


def gif_frame(
    raw: np.ndarray,
    labels: np.ndarray,
    limits: tuple[float, float],
    scale: int,
    text: str,
) -> Image.Image:
    """Render one frame as a palette image for the GIF: grey image, contours coloured by track id.

    The palette holds `GREY_LEVELS` grey levels first and then the colours of the tracks present,
    so contour pixels keep their exact track colour (no lossy quantisation). With more than
    `MAX_TRACK_COLOURS` tracks in a frame, the extra tracks take the nearest listed colour.
    """
    from PIL import Image, ImageDraw, ImageFont
    from skimage.segmentation import find_boundaries

    ids = np.unique(labels)
    ids = ids[ids > 0]
    kept = ids[:MAX_TRACK_COLOURS]
    greys = GREY_LEVELS
    low, high = limits
    level = np.clip((raw.astype(np.float32) - low) / (high - low), 0.0, 1.0)
    index = np.rint(level * (greys - 1)).astype(np.uint8)
    boundary = find_boundaries(labels, mode="inner") & (labels > 0)
    if len(ids):
        colours = track_colours(kept.tolist()).astype(np.int32)
        lookup = np.zeros(int(ids.max()) + 1, dtype=np.int32)
        lookup[kept] = greys + np.arange(len(kept))
        if len(ids) > len(kept):
            extra = ids[len(kept) :]
            wanted = track_colours(extra.tolist()).astype(np.int32)
            distance = ((wanted[:, None, :] - colours[None, :, :]) ** 2).sum(axis=2)
            lookup[extra] = greys + distance.argmin(axis=1)
            logger.debug("%d tracks in one frame: %d share colours", len(ids), len(extra))
        index[boundary] = lookup[labels[boundary]]
    else:
        colours = np.zeros((0, 3), dtype=np.int32)
    index = np.repeat(np.repeat(index, scale, axis=0), scale, axis=1)
    grey_values = np.rint(np.linspace(0, 255, greys)).astype(int)
    palette = np.repeat(grey_values[:, None], 3, axis=1).tolist() + colours.tolist()
    image = Image.fromarray(index, mode="P")
    draw = ImageDraw.Draw(image)
    try:
        font = ImageFont.load_default(size=max(10, 7 * scale))
    except (ImportError, OSError):  # Pillow without FreeType: the small bitmap font
        font = ImageFont.load_default()
    box = draw.textbbox((2, 1), text, font=font)
    draw.rectangle((0, 0, box[2] + 2, box[3] + 2), fill=0)
    draw.text((2, 1), text, fill=greys - 1, font=font)
    image.putpalette([value for rgb in palette for value in rgb])
    return image


def overlay_animation(
    sequence_dir: Path,
    res_dir: Path,
    out: Path,
    max_frames: int = 40,
    scale: int = 2,
    duration_ms: int = 200,
) -> None:
    """Write an animated GIF of raw frames with contours coloured by track id, to eyeball tracking.

    Frames are read one at a time; long sequences are subsampled evenly to `max_frames`. The grey
    levels are stretched between the 0.5 and 99.8 percentiles of the first frame, for the whole
    sequence, so brightness changes over time stay visible. Memory: the GIF writer holds one byte
    per output pixel and frame.
    """
    if max_frames < 1 or scale < 1:
        raise ValueError(f"max_frames ({max_frames}) and scale ({scale}) must be at least 1")
    raw_paths = ctc_layout.frame_paths(Path(sequence_dir))
    mask_paths = ctc.result_masks(Path(res_dir))
    if len(raw_paths) != len(mask_paths):
        raise ValueError(
            f"{sequence_dir} has {len(raw_paths)} frames but {res_dir} has {len(mask_paths)} masks"
        )
    indices = sampled_frames(len(raw_paths), max_frames)
    limits = contrast_limits(ctc.read_frame(raw_paths[0]))
    frames: list[Image.Image] = []
    for t in indices:
        raw = ctc.read_frame(raw_paths[t])
        labels = ctc.read_label_frame(mask_paths[t])
        if raw.shape != labels.shape:
            raise ValueError(
                f"{raw_paths[t]} {raw.shape} and {mask_paths[t]} {labels.shape} differ"
            )
        frames.append(gif_frame(raw, labels, limits, scale, f"t={t}"))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(
        out,
        save_all=True,
        append_images=frames[1:],
        duration=duration_ms,
        loop=0,
        disposal=1,
    )
    logger.info(
        "%s: %d of %d frames, %.1f MB",
        out,
        len(frames),
        len(raw_paths),
        out.stat().st_size / 1e6,
    )
