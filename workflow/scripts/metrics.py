"""Rule adapter: gather every metric table into results/metrics.csv with a provenance record."""

from pathlib import Path

from cosinetrack.dag.logs import log_to
from cosinetrack.stages.evaluate import run_gather_metrics

with log_to(snakemake.log[0]):
    run_gather_metrics(
        [Path(p) for p in snakemake.input],
        Path(snakemake.output.table),
        Path(snakemake.output.provenance),
        snakemake.params.config,
    )
