"""Rule adapter: a model folder's settings for the dataset's cells (given or estimated size)."""

from pathlib import Path

from cosinetrack.dag.logs import log_to
from cosinetrack.stages.rescale import rescale_to_cells

with log_to(snakemake.log[0]):
    rescale_to_cells(
        Path(snakemake.input.settings).parent,
        snakemake.params.diameter,
        Path(snakemake.params.root),
        snakemake.params.sequences,
        Path(snakemake.output.settings).parent,
    )
