"""Rule adapter: simulate a dataset in CTC layout."""

from pathlib import Path

from cosinetrack.config.sections import SimConfig
from cosinetrack.dag.logs import log_to
from cosinetrack.simulate import run_simulate

with log_to(snakemake.log[0]):
    run_simulate(Path(snakemake.output[0]), SimConfig(**snakemake.params.simulate))
