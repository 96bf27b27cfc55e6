"""Rule adapter: score one result folder against its ground truth with py-ctcmetrics."""

from pathlib import Path

from cosinetrack.config.sections import EvaluateConfig
from cosinetrack.dag.logs import log_to
from cosinetrack.stages.evaluate import run_evaluate

with log_to(snakemake.log[0]):
    run_evaluate(
        Path(snakemake.input.res),
        Path(snakemake.params.root) / f"{snakemake.wildcards.seq}_GT",
        Path(snakemake.output[0]),
        snakemake.params.labels,
        EvaluateConfig(**snakemake.params.evaluate),
    )
