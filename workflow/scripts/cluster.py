"""Rule adapter: cluster one chunk of frame pairs of a sequence."""

from pathlib import Path

from cosinetrack.adapt import stage_config
from cosinetrack.cluster import run_cluster
from cosinetrack.config import ClusterConfig
from cosinetrack.logs import log_to

with log_to(snakemake.log[0]):
    run_cluster(
        Path(snakemake.input.embeddings),
        Path(snakemake.output[0]),
        stage_config(
            ClusterConfig,
            "cluster",
            snakemake.params.cluster,
            [Path(snakemake.input.settings), Path(snakemake.input.postprocess)],
            snakemake.params.explicit,
        ),
        chunk=int(snakemake.wildcards.chunk),
        threads=snakemake.threads,
    )
