"""Rule adapter: the headline metrics, methods side by side."""

from pathlib import Path

from cosinetrack.dag.logs import log_to
from cosinetrack.report import metrics_table

with log_to(snakemake.log[0]):
    metrics_table(Path(snakemake.input[0]), Path(snakemake.output[0]))
