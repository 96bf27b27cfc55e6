"""Rule adapter: measure a dataset's training GT (time-lapse or still images), choose settings."""

from pathlib import Path

from cosinetrack.adapt import run_adapt
from cosinetrack.config import AdaptConfig
from cosinetrack.logs import log_to

with log_to(snakemake.log[0]):
    run_adapt(
        Path(snakemake.params.root),
        snakemake.params.train,
        snakemake.params.validation,
        snakemake.params.defaults,
        snakemake.params.explicit,
        AdaptConfig(**snakemake.params.adapt),
        Path(snakemake.output[0]),
        kind=snakemake.params.kind,
        ground_truth=snakemake.params.ground_truth,
    )
