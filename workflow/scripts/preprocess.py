"""Rule adapter: normalise a CTC sequence and merge its ground truth into a Zarr store."""

from pathlib import Path

from cosinetrack.config.sections import PreprocessConfig
from cosinetrack.config.settings import stage_config
from cosinetrack.dag.logs import log_to
from cosinetrack.stages.preprocess import run_preprocess

with log_to(snakemake.log[0]):
    run_preprocess(
        Path(snakemake.params.root),
        snakemake.wildcards.seq,
        Path(snakemake.output[0]),
        stage_config(
            PreprocessConfig,
            "preprocess",
            snakemake.params.preprocess,
            [Path(snakemake.input.settings)],
            snakemake.params.explicit,
        ),
        snakemake.params.ground_truth,
    )
