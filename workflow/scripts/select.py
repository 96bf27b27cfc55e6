"""Rule adapter: choose checkpoint and post-processing settings on the validation frames."""

from pathlib import Path

from cosinetrack.dag.logs import log_to
from cosinetrack.stages.select import Choosing, run_select

with log_to(snakemake.log[0]):
    run_select(
        Choosing(
            Path(snakemake.input.model).parent,
            Path(snakemake.input.settings),
            snakemake.params.stages,
            snakemake.params.explicit,
            snakemake.params.tune,
            Path(snakemake.output.model).parent,
        ),
        {Path(p).stem: Path(p) for p in snakemake.input.stores},
        Path(snakemake.params.root),
        threads=snakemake.threads,
    )
