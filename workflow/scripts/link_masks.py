"""Rule adapter: link a sequence's own masks (a folder of label images) into a CTC result."""

from pathlib import Path

from cosinetrack.config.sections import LinkConfig
from cosinetrack.dag.logs import log_to
from cosinetrack.stages.link_masks import run_link_masks

with log_to(snakemake.log[0]):
    sequence = snakemake.params.sequence
    run_link_masks(
        Path(snakemake.params.folder),
        Path(snakemake.output[0]),
        LinkConfig(**snakemake.params.link),
        Path(sequence) if sequence else None,
    )
