"""Rule adapter: measure a still-image dataset's training masks, choose its settings."""

from pathlib import Path

from cosinetrack.config.sections import AdaptConfig
from cosinetrack.dag.logs import log_to
from cosinetrack.stills.dataset import run_images_adapt

with log_to(snakemake.log[0]):
    run_images_adapt(
        Path(snakemake.params.root),
        snakemake.params.train,
        snakemake.params.validation,
        snakemake.params.defaults,
        snakemake.params.explicit,
        AdaptConfig(**snakemake.params.adapt),
        Path(snakemake.output[0]),
    )
