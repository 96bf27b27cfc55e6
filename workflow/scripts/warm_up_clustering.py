"""Rule adapter: compile the HDBSCAN's numba code once before the cluster jobs start."""

from pathlib import Path

from cosinetrack.dag.logs import log_to
from cosinetrack.stages.cluster import run_warm_up

with log_to(snakemake.log[0]):
    run_warm_up(Path(snakemake.output[0]))
