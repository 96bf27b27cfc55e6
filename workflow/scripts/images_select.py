"""Rule adapter: choose checkpoint and clustering settings on the validation images."""

from pathlib import Path

from cosinetrack.dag.logs import log_to
from cosinetrack.stages.select import Choosing
from cosinetrack.stills.method import run_images_select

with log_to(snakemake.log[0]):
    run_images_select(
        Choosing(
            Path(snakemake.input.model).parent,
            Path(snakemake.input.settings),
            snakemake.params.stages,
            snakemake.params.explicit,
            snakemake.params.tune,
            Path(snakemake.output.model).parent,
        ),
        Path(snakemake.params.root),
        threads=snakemake.threads,
    )
