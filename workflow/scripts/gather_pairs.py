"""Rule adapter: gather the clustering chunks of a sequence into one store."""

from pathlib import Path

from cosinetrack.dag.logs import log_to
from cosinetrack.stages.cluster import run_gather_pairs

with log_to(snakemake.log[0]):
    run_gather_pairs([Path(p) for p in snakemake.input], Path(snakemake.output[0]))
