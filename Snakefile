# Cell segmentation and tracking with cosine embeddings and recurrent stacked hourglass networks
# (Payer et al., MICCAI 2018). Run `snakemake --cores 8`; see README.md.
from snakemake.utils import min_version

min_version("9.0")


# config.yaml runs the embedded default. A config file given with --configfile replaces it rather
# than extending it, so `--configfile my.yaml` runs only the datasets my.yaml lists.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/adapt.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/infer.smk"
include: "workflow/rules/cluster.smk"
include: "workflow/rules/link.smk"
include: "workflow/rules/baseline.smk"
include: "workflow/rules/images.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),
