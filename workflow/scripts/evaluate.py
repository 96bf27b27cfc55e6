"""Rule adapter: score one result folder against its ground truth with py-ctcmetrics."""

from pathlib import Path

from cosinetrack.config import EvaluateConfig
from cosinetrack.evaluate import run_evaluate
from cosinetrack.logs import log_to

with log_to(snakemake.log[0]):
    run_evaluate(
        Path(snakemake.input.res),
        Path(snakemake.params.root) / f"{snakemake.wildcards.seq}_GT",
        Path(snakemake.output[0]),
        snakemake.params.labels,
        EvaluateConfig(**snakemake.params.evaluate),
    )
