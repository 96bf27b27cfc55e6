"""Figures and tables for the Snakemake HTML report: overlays, lineage trees, runtimes, metrics.

Every function reads files the workflow already wrote (CTC frames and results, `benchmark:` TSVs,
the tidy `results/metrics.csv`) and writes one report item. Track colours come from one palette
(`track_colour`), so a track has the same colour in the overlay GIF and in the lineage plot.
"""

from __future__ import annotations

import colorsys
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cosinetrack import ctc

if TYPE_CHECKING:
    from PIL import Image

logger = logging.getLogger(__name__)

GOLDEN = 0.6180339887498949
BRIGHTNESS_STEP = 0.7548776662466927  # 1 / plastic number: independent of the hue steps
HEADLINE_METRICS = (
    "SEG",
    "DET",
    "TRA",
    "LNK",
    "BC(1)",
    "CT",
    "TF",
    "CCA",
    "CHOTA",
    "HOTA",
    "MOTA",
    "IDF1",
)
RUNTIME_COLUMNS = ["dataset", "rule", "job", "seconds", "max_rss_mb"]
GREY_LEVELS = 64  # GIF palette entries for the image: 6 bits keep noisy GIFs small (LZW)
MAX_TRACK_COLOURS = 256 - GREY_LEVELS  # palette entries left for contour colours


def track_colour(track_id: int) -> tuple[int, int, int]:
    """Return the fixed RGB colour of a track id, shared by all report figures.

    Hues step by the golden ratio and brightness by a second irrational step, so ids close in
    number, or about a hue period (13) apart, still differ visibly.
    """
    hue = (int(track_id) * GOLDEN) % 1.0
    value = 0.7 + 0.3 * ((int(track_id) * BRIGHTNESS_STEP) % 1.0)
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.85, value)
    return (round(red * 255), round(green * 255), round(blue * 255))


def track_colours(track_ids: Iterable[int]) -> np.ndarray:
    """Return the (N, 3) uint8 colours of several track ids, for vectorised drawing."""
    return np.array([track_colour(i) for i in track_ids], dtype=np.uint8).reshape(-1, 3)


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
    raw_paths = ctc.frame_paths(Path(sequence_dir))
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


def lineage_order(tracks: np.ndarray) -> list[int]:
    """Order track labels depth-first from the roots, so each daughter sits right by its mother.

    Roots and siblings are taken by (first frame, label); a parent missing from the table makes
    its daughter a root.
    """
    tracks = np.asarray(tracks, dtype=np.int64).reshape(-1, 4)
    labels = {int(label) for label in tracks[:, 0]}
    key = {int(label): (int(begin), int(label)) for label, begin, _, _ in tracks}
    children: dict[int, list[int]] = {}
    roots: list[int] = []
    for label, _, _, parent in tracks:
        if int(parent) in labels and int(parent) != int(label):
            children.setdefault(int(parent), []).append(int(label))
        else:
            roots.append(int(label))
    order: list[int] = []
    stack = sorted(roots, key=key.__getitem__, reverse=True)
    while stack:
        label = stack.pop()
        order.append(label)
        stack.extend(sorted(children.get(label, []), key=key.__getitem__, reverse=True))
    return order


def lineage_plot(track_table: Path, out: Path, title: str = "") -> None:
    """Draw the lineage tree of a track table (x = frame, one line per track), to see divisions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    tracks = ctc.read_track_table(Path(track_table))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    order = lineage_order(tracks)
    rows = {label: row for row, label in enumerate(order)}
    height = float(np.clip(1.5 + 0.12 * len(order), 3.0, 30.0))
    figure, axis = plt.subplots(figsize=(8, height), dpi=100)
    if not order:
        axis.text(0.5, 0.5, "no tracks", ha="center", va="center", fontsize=14)
        axis.set_axis_off()
    else:
        spans = {int(label): (int(b), int(e), int(p)) for label, b, e, p in tracks}
        width = float(np.clip(300 / len(order), 0.5, 4.0))
        colours = track_colours(order) / 255
        tracks_lines = [[(spans[i][0] - 0.3, rows[i]), (spans[i][1] + 0.3, rows[i])] for i in order]
        axis.add_collection(
            LineCollection(tracks_lines, colors=colours, linewidths=width, capstyle="butt")
        )
        links = [i for i in order if spans[i][2] in rows]
        axis.add_collection(
            LineCollection(
                [
                    [(spans[spans[i][2]][1], rows[spans[i][2]]), (spans[i][0], rows[i])]
                    for i in links
                ],
                colors=[colours[rows[i]] for i in links],
                linewidths=width * 0.6,
            )
        )
        first, last = min(b for b, _, _ in spans.values()), max(e for _, e, _ in spans.values())
        axis.set_xlim(first - 0.05 * (last - first) - 1, last + 0.05 * (last - first) + 1)
        axis.set_ylim(len(order) - 0.5, -0.5)
        axis.set_xlabel("frame")
        axis.set_ylabel("track")
        if len(order) <= 60:
            axis.set_yticks(range(len(order)), [str(label) for label in order], fontsize=7)
        else:
            axis.set_yticks([])
        mothers = len({spans[i][2] for i in links})
        axis.set_title(f"{len(order)} tracks, {mothers} with daughters", fontsize=9)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(out)
    plt.close(figure)
    logger.info("%s: lineage of %d tracks", out, len(order))


def benchmark_job(path: Path) -> tuple[str, str, str]:
    """Split a benchmark path `.../{dataset}/benchmarks/{rule}[/{wildcards...}].tsv` into names.

    Returns (dataset, rule, job); job joins the wildcard parts with "/" and is "" for a rule that
    runs once per dataset. Without a `benchmarks` folder the dataset is "" and the rule the stem.
    """
    parts = list(Path(path).with_suffix("").parts)
    if "benchmarks" not in parts[:-1]:
        return "", parts[-1], ""
    at = len(parts) - 1 - parts[::-1].index("benchmarks")
    dataset = parts[at - 1] if at > 0 else ""
    return dataset, parts[at + 1], "/".join(parts[at + 2 :])


def read_benchmark(path: Path) -> dict[str, object]:
    """Read one Snakemake `benchmark:` TSV into a tidy row; repeats are averaged (RSS: maximum)."""
    table = pd.read_csv(path, sep="\t", na_values=["NA", "-"])
    missing = [column for column in ("s", "max_rss") if column not in table.columns]
    if missing:
        raise ValueError(f"{path}: not a Snakemake benchmark file, no column {missing[0]!r}")
    if table.empty:
        logger.warning("%s: benchmark file has no rows", path)
    dataset, rule, job = benchmark_job(path)
    return {
        "dataset": dataset,
        "rule": rule,
        "job": job,
        "seconds": float(pd.to_numeric(table["s"], errors="coerce").mean()),
        "max_rss_mb": float(pd.to_numeric(table["max_rss"], errors="coerce").max()),
    }


def runtime_rows(benchmark_files: Sequence[Path]) -> pd.DataFrame:
    """Read benchmark files into a tidy table (dataset, rule, job, seconds, max_rss_mb), sorted."""
    rows = [read_benchmark(Path(path)) for path in benchmark_files]
    frame = pd.DataFrame(rows, columns=RUNTIME_COLUMNS)
    return frame.sort_values(["dataset", "rule", "job"], kind="stable").reset_index(drop=True)


def rule_totals(runtimes: pd.DataFrame) -> pd.DataFrame:
    """Sum seconds per (dataset, rule) and count its jobs, largest total first."""
    totals = (
        runtimes.groupby(["dataset", "rule"], sort=True)
        .agg(jobs=("job", "size"), seconds=("seconds", "sum"))
        .reset_index()
    )
    return totals.sort_values("seconds", ascending=False, kind="stable").reset_index(drop=True)


def human_duration(seconds: float) -> str:
    """Format seconds as a short duration such as `12.3 s`, `4 min 05 s` or `2 h 03 min`."""
    if not np.isfinite(seconds):
        return "n/a"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def runtime_table(benchmark_files: list[Path], out_csv: Path, out_png: Path) -> None:
    """Tabulate Snakemake benchmark files and chart seconds per rule, to show where time goes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runtimes = runtime_rows(benchmark_files)
    for path in (Path(out_csv), Path(out_png)):
        path.parent.mkdir(parents=True, exist_ok=True)
    runtimes.to_csv(out_csv, index=False)
    totals = rule_totals(runtimes)
    several = totals["dataset"].nunique() > 1
    names = [
        (f"{dataset}: " if several else "") + f"{rule} ({jobs} job{'s' if jobs != 1 else ''})"
        for dataset, rule, jobs in zip(
            totals["dataset"], totals["rule"], totals["jobs"], strict=True
        )
    ]
    figure, axis = plt.subplots(figsize=(8, float(np.clip(1.2 + 0.35 * len(totals), 2.5, 20))))
    if totals.empty:
        axis.text(0.5, 0.5, "no benchmarks", ha="center", va="center", fontsize=14)
        axis.set_axis_off()
    else:
        seconds = totals["seconds"].fillna(0.0).to_numpy()
        axis.barh(range(len(totals)), seconds, color="tab:blue")
        axis.set_yticks(range(len(totals)), names)
        axis.invert_yaxis()
        for row, value in enumerate(totals["seconds"]):
            axis.text(seconds[row], row, " " + human_duration(value), va="center", fontsize=8)
        axis.set_xlim(0, max(float(seconds.max()), 1.0) * 1.25)
        axis.set_xlabel("wall-clock seconds, summed over jobs")
        axis.set_title(f"Runtime per rule (total {human_duration(float(seconds.sum()))})")
    figure.tight_layout()
    figure.savefig(out_png, dpi=100)
    plt.close(figure)
    logger.info("%s: %d benchmark files, %d rules", out_csv, len(runtimes), len(totals))


def wide_metrics(metrics: pd.DataFrame, headline: Sequence[str] = HEADLINE_METRICS) -> pd.DataFrame:
    """Pivot tidy metrics to rows (dataset, sequence, metric) and one column per method.

    Only the `headline` metrics present are kept, in that order; methods keep their order of
    first appearance; values are rounded to 3 decimals, and a metric a method lacks is empty.
    """
    metrics = metrics[metrics["metric"].isin(headline)]
    if metrics.empty:
        return pd.DataFrame(columns=["dataset", "sequence", "metric"])
    methods = list(dict.fromkeys(metrics["method"]))
    present = [metric for metric in headline if metric in set(metrics["metric"])]
    wide = metrics.pivot_table(
        index=["dataset", "sequence", "metric"], columns="method", values="value", aggfunc="first"
    )
    wide = wide.reindex(columns=methods).reset_index()
    wide["metric"] = pd.Categorical(wide["metric"], categories=present, ordered=True)
    wide = wide.sort_values(["dataset", "sequence", "metric"]).reset_index(drop=True)
    wide["metric"] = wide["metric"].astype(str)
    wide.columns.name = None
    wide[methods] = wide[methods].astype(float).round(3)
    return wide


def metrics_table(
    metrics_csv: Path,
    out_csv: Path,
    out_html: Path | None = None,
    headline: Sequence[str] = HEADLINE_METRICS,
) -> None:
    """Write the headline metrics side by side per method (CSV, optionally HTML), for comparison."""
    metrics = pd.read_csv(metrics_csv, dtype={"dataset": str, "sequence": str, "method": str})
    wide = wide_metrics(metrics, headline)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    wide.to_csv(out_csv, index=False, float_format="%.3f")
    if out_html is not None:
        Path(out_html).parent.mkdir(parents=True, exist_ok=True)
        Path(out_html).write_text(
            wide.to_html(index=False, float_format="{:.3f}".format, na_rep="", border=0)
        )
    logger.info("%s: %d rows, methods %s", out_csv, len(wide), list(wide.columns[3:]))
