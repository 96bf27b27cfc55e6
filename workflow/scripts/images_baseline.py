"""Rule adapter: the classical baseline (threshold + watershed) on every image of a split."""

from pathlib import Path

from cosinetrack.config.sections import BaselineConfig
from cosinetrack.config.settings import stage_config
from cosinetrack.dag.logs import log_to
from cosinetrack.stills.dataset import run_images_baseline

with log_to(snakemake.log[0]):
    run_images_baseline(
        Path(snakemake.params.root),
        snakemake.wildcards.seq,
        Path(snakemake.output[0]),
        stage_config(
            BaselineConfig,
            "baseline",
            snakemake.params.baseline,
            [Path(snakemake.input.settings)],
            snakemake.params.explicit,
        ),
    )
