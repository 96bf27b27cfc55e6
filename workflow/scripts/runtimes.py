"""Rule adapter: runtime and memory of every job, from the Snakemake benchmark files."""

from pathlib import Path

from cosinetrack.dag.logs import log_to
from cosinetrack.report import runtime_table

with log_to(snakemake.log[0]):
    runtime_table(
        [Path(p) for p in snakemake.input],
        Path(snakemake.output.table),
        Path(snakemake.output.plot),
    )
