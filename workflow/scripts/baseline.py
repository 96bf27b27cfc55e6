"""Rule adapter: the classical baseline (threshold + watershed + IoU linking) on one sequence."""

from pathlib import Path

from cosinetrack.config.sections import BaselineConfig, LinkConfig
from cosinetrack.config.settings import stage_config
from cosinetrack.dag.logs import log_to
from cosinetrack.stages.baseline import run_baseline

with log_to(snakemake.log[0]):
    run_baseline(
        Path(snakemake.params.root) / snakemake.wildcards.seq,
        Path(snakemake.output[0]),
        stage_config(
            BaselineConfig,
            "baseline",
            snakemake.params.baseline,
            [Path(snakemake.input.settings)],
            snakemake.params.explicit,
        ),
        LinkConfig(**snakemake.params.link),
    )
