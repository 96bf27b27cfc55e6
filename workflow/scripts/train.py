"""Rule adapter: train the network on a dataset's training sequences."""

from pathlib import Path

from cosinetrack.config.sections import ModelConfig, TrainConfig
from cosinetrack.config.settings import stage_config, training_stops
from cosinetrack.dag.logs import log_to
from cosinetrack.stages.train import run_train

settings = [Path(snakemake.input.settings)]
with log_to(snakemake.log[0]):
    run_train(
        [Path(p) for p in snakemake.input.stores],
        Path(snakemake.output.model).parent,
        ModelConfig(**snakemake.params.model),
        stage_config(
            TrainConfig, "train", snakemake.params.train, settings, snakemake.params.explicit
        ),
        threads=snakemake.threads,
        stops=training_stops(settings[0], [Path(p).stem for p in snakemake.input.stores]),
        init=Path(snakemake.input.init[0]) if snakemake.input.init else None,
    )
