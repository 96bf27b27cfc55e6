"""Rule adapter: link pair clusterings into tracks and write the CTC result."""

from pathlib import Path

from cosinetrack.adapt import stage_config
from cosinetrack.config import LinkConfig
from cosinetrack.link import run_link
from cosinetrack.logs import log_to

with log_to(snakemake.log[0]):
    run_link(
        Path(snakemake.input.pairs),
        Path(snakemake.input.prep),
        Path(snakemake.output[0]),
        stage_config(
            LinkConfig,
            "link",
            snakemake.params.link,
            [Path(snakemake.input.settings), Path(snakemake.input.postprocess)],
            snakemake.params.explicit,
        ),
    )
