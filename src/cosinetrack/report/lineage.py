"""Lineage tree of a track table: one line per track over the frames, daughters by mothers."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from cosinetrack.formats import ctc
from cosinetrack.report.colours import track_colours

logger = logging.getLogger(__name__)


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
