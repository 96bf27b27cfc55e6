"""Rule adapter: compile the clustering backend once before the cluster jobs start."""

from pathlib import Path

from cosinetrack.cluster import run_warm_up
from cosinetrack.config import ClusterConfig
from cosinetrack.logs import log_to

with log_to(snakemake.log[0]):
    run_warm_up(ClusterConfig(**snakemake.params.cluster), Path(snakemake.output[0]))
