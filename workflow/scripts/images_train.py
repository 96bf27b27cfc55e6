"""Rule adapter: train the network without recurrence on a still-image dataset."""

from pathlib import Path

from cosinetrack.config.sections import ModelConfig, PreprocessConfig, TrainConfig
from cosinetrack.config.settings import stage_config
from cosinetrack.dag.logs import log_to
from cosinetrack.stills.method import run_images_train

settings = [Path(snakemake.input.settings)]
explicit = snakemake.params.explicit
with log_to(snakemake.log[0]):
    run_images_train(
        Path(snakemake.params.root),
        snakemake.params.splits,
        settings[0],
        Path(snakemake.output.model).parent,
        ModelConfig(**snakemake.params.model),
        stage_config(TrainConfig, "train", snakemake.params.train, settings, explicit),
        stage_config(
            PreprocessConfig, "preprocess", snakemake.params.preprocess, settings, explicit
        ),
        threads=snakemake.threads,
    )
