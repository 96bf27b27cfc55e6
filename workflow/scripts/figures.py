"""Rule adapter: the tracking overlay animation and the lineage tree of one result."""

from pathlib import Path

from cosinetrack.dag.logs import log_to
from cosinetrack.report import lineage_plot, overlay_animation

with log_to(snakemake.log[0]):
    res = Path(snakemake.input.res)
    overlay_animation(
        Path(snakemake.params.root) / snakemake.wildcards.seq, res, Path(snakemake.output.overlay)
    )
    lineage_plot(
        res / "res_track.txt",
        Path(snakemake.output.lineage),
        title="{dataset} {seq} ({method})".format(**snakemake.wildcards),
    )
