"""Rule adapter: score both methods' labelled images of a split against its masks."""

from pathlib import Path

from cosinetrack.dag.logs import log_to
from cosinetrack.stills.scores import run_images_evaluate

with log_to(snakemake.log[0]):
    run_images_evaluate(
        Path(snakemake.params.root),
        snakemake.wildcards.seq,
        {"cosine": Path(snakemake.input.cosine), "baseline": Path(snakemake.input.baseline)},
        Path(snakemake.output[0]),
    )
