"""Rule adapter: segment every image of a split with the trained model."""

from pathlib import Path

from cosinetrack.config.sections import ClusterConfig, InferConfig, PreprocessConfig
from cosinetrack.config.settings import stage_config
from cosinetrack.dag.logs import log_to
from cosinetrack.stills.method import run_images_segment

settings = [Path(snakemake.input.settings)]
chosen = [*settings, Path(snakemake.input.postprocess)]
explicit = snakemake.params.explicit
with log_to(snakemake.log[0]):
    run_images_segment(
        Path(snakemake.params.root),
        snakemake.wildcards.seq,
        Path(snakemake.input.model).parent,
        Path(snakemake.output[0]),
        stage_config(
            PreprocessConfig, "preprocess", snakemake.params.preprocess, settings, explicit
        ),
        stage_config(ClusterConfig, "cluster", snakemake.params.cluster, chosen, explicit),
        InferConfig(**snakemake.params.infer),
        threads=snakemake.threads,
    )
