"""Rule adapter: link pair clusterings into tracks and write the CTC result."""

from pathlib import Path

from cosinetrack.config.sections import LinkConfig
from cosinetrack.config.settings import stage_config
from cosinetrack.dag.logs import log_to
from cosinetrack.stages.link import run_link

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
