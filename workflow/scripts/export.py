"""Rule adapter: export one CTC result as a GEFF tracks graph and a napari-ready object table."""

from pathlib import Path

from cosinetrack.dag.logs import log_to
from cosinetrack.stages.export import run_export

with log_to(snakemake.log[0]):
    run_export(
        Path(snakemake.input.res),
        Path(snakemake.output.geff),
        Path(snakemake.output.objects),
    )
