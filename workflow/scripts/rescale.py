"""Rule adapter: a named model folder's settings for cells of adapt.object_diameter pixels."""

from pathlib import Path

from cosinetrack.dag.logs import log_to
from cosinetrack.stages.rescale import rescale_model

with log_to(snakemake.log[0]):
    rescale_model(
        Path(snakemake.input.settings).parent,
        snakemake.params.diameter,
        Path(snakemake.output.settings).parent,
    )
