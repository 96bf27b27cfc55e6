"""Rule adapter: cluster one chunk of frame pairs of a sequence."""

from pathlib import Path

from cosinetrack.config.sections import ClusterConfig
from cosinetrack.config.settings import stage_config
from cosinetrack.dag.logs import log_to
from cosinetrack.stages.cluster import run_cluster

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
    )
