"""Rule adapter: cluster one chunk of frame pairs of a sequence."""

from pathlib import Path

from cosinetrack.cluster import run_cluster
from cosinetrack.config import ClusterConfig
from cosinetrack.logs import log_to

with log_to(snakemake.log[0]):
    run_cluster(
        Path(snakemake.input[0]),
        Path(snakemake.output[0]),
        ClusterConfig(**snakemake.params.cluster),
        chunk=int(snakemake.wildcards.chunk),
        threads=snakemake.threads,
    )
