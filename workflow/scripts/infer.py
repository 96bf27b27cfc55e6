"""Rule adapter: embed every frame of a sequence with the trained network."""

from pathlib import Path

from cosinetrack.config.sections import InferConfig
from cosinetrack.dag.logs import log_to
from cosinetrack.stages.infer import run_infer

with log_to(snakemake.log[0]):
    run_infer(
        Path(snakemake.input.prep),
        Path(snakemake.input.model).parent,
        Path(snakemake.output[0]),
        InferConfig(**snakemake.params.infer),
        threads=snakemake.threads,
    )
