"""Rule adapter: train the network on a dataset's training sequences."""

from pathlib import Path

from cosinetrack.config import ModelConfig, TrainConfig
from cosinetrack.logs import log_to
from cosinetrack.train import run_train

with log_to(snakemake.log[0]):
    run_train(
        [Path(p) for p in snakemake.input],
        Path(snakemake.output.model).parent,
        ModelConfig(**snakemake.params.model),
        TrainConfig(**snakemake.params.train),
        threads=snakemake.threads,
    )
