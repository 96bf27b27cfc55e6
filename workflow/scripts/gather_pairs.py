"""Rule adapter: gather the clustering chunks of a sequence into one store."""

from pathlib import Path

from cosinetrack.cluster import run_gather_pairs
from cosinetrack.logs import log_to

with log_to(snakemake.log[0]):
    run_gather_pairs([Path(p) for p in snakemake.input], Path(snakemake.output[0]))
