"""Rule adapter: measure a time-lapse dataset's training GT, choose its settings."""

from pathlib import Path

from cosinetrack.config.sections import AdaptConfig
from cosinetrack.dag.logs import log_to
from cosinetrack.stages.adapt import run_adapt

with log_to(snakemake.log[0]):
    run_adapt(
        Path(snakemake.params.root),
        snakemake.params.train,
        snakemake.params.validation,
        snakemake.params.defaults,
        snakemake.params.explicit,
        AdaptConfig(**snakemake.params.adapt),
        Path(snakemake.output[0]),
        ground_truth=snakemake.params.ground_truth,
    )
