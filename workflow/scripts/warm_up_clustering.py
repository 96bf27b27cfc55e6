"""Rule adapter: compile the clustering backend once before the cluster jobs start."""

from pathlib import Path

from cosinetrack.config.sections import ClusterConfig
from cosinetrack.dag.logs import log_to
from cosinetrack.stages.cluster import run_warm_up

with log_to(snakemake.log[0]):
    run_warm_up(ClusterConfig(**snakemake.params.cluster), Path(snakemake.output[0]))
