"""Figures and tables for the Snakemake HTML report: overlays, lineage trees, runtimes, metrics.

Every function reads files the workflow already wrote (CTC frames and results, `benchmark:` TSVs,
the tidy `results/metrics.csv`) and writes one report item. Track colours come from one palette
(`colours.track_colour`), so a track has the same colour in the overlay GIF and in the lineage
plot. Modules: `colours`, `overlay` (GIF), `lineage` (tree plot), `runtimes` (benchmark TSVs),
`tables` (metrics side by side).
"""

from cosinetrack.report.colours import track_colour, track_colours
from cosinetrack.report.lineage import lineage_order, lineage_plot
from cosinetrack.report.overlay import (
    GREY_LEVELS,
    MAX_TRACK_COLOURS,
    contrast_limits,
    gif_frame,
    overlay_animation,
    sampled_frames,
)
from cosinetrack.report.runtimes import (
    RUNTIME_COLUMNS,
    benchmark_job,
    human_duration,
    read_benchmark,
    rule_totals,
    runtime_rows,
    runtime_table,
)
from cosinetrack.report.tables import HEADLINE_METRICS, metrics_table, wide_metrics

__all__ = [
    "GREY_LEVELS",
    "HEADLINE_METRICS",
    "MAX_TRACK_COLOURS",
    "RUNTIME_COLUMNS",
    "benchmark_job",
    "contrast_limits",
    "gif_frame",
    "human_duration",
    "lineage_order",
    "lineage_plot",
    "metrics_table",
    "overlay_animation",
    "read_benchmark",
    "rule_totals",
    "runtime_rows",
    "runtime_table",
    "sampled_frames",
    "track_colour",
    "track_colours",
    "wide_metrics",
]
