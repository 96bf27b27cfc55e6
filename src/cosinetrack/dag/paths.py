"""Where the workflow writes everything: one template per output, log and benchmark file.

The rules (workflow/rules/*.smk) name their outputs, logs and benchmarks with these templates and
the target functions (`cosinetrack.dag.targets`) fill them in, so every path is spelled once;
tests/test_paths.py checks that every job of a dry run writes exactly these paths. Every method's
results share one layout, `results/{dataset}/{method}/...` with method `cosine` or `baseline` (the
two that segment a dataset's frames) or `masks` (a dataset's own masks, `segmentation:`).
Kept free of heavy imports: Snakemake imports it at every start.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

METHODS = ("cosine", "baseline")  # what segments and tracks a dataset's frames
MASKS = "masks"  # what tracks a dataset's own masks (`segmentation:`), segmenting nothing
ALL_METHODS = (*METHODS, MASKS)

SIMULATED = "resources/datasets/{dataset}"
PREP = "results/{dataset}/prep/{seq}.zarr"
EMBEDDINGS = "results/{dataset}/embeddings/{seq}.zarr"
CLUSTER_CHUNK = "results/{dataset}/pairs/{seq}/chunk{chunk}.zarr.zip"
PAIRS = "results/{dataset}/pairs/{seq}.zarr"
RESULT = "results/{dataset}/{method}/{seq}_RES"
GEFF = "results/{dataset}/{method}/{seq}.geff.zarr"
OBJECTS = "results/{dataset}/{method}/{seq}_objects.csv"
METRICS = "results/{dataset}/metrics/{method}_{seq}.csv"
OVERLAY = "results/{dataset}/figures/{method}_{seq}_overlay.gif"
LINEAGE = "results/{dataset}/figures/{method}_{seq}_lineage.png"
IMAGE_LABELS = "results/{dataset}/images/{method}/{seq}"
IMAGE_METRICS = "results/{dataset}/images/metrics/{seq}.csv"
CLUSTERING_WARM_UP = "results/clustering_warm_up.json"
ALL_METRICS = "results/metrics.csv"
PROVENANCE = "results/provenance.json"
METRICS_TABLE = "results/metrics_table.csv"
RUNTIMES = "results/runtimes.csv"
RUNTIMES_PLOT = "results/runtimes.png"
# The general model that ships with the package (`model: general`), trained by
# benchmarks/general_model.py.
GENERAL_MODEL_FOLDER = str(Path(__file__).resolve().parents[1] / "models" / "general")
# A named model folder's settings for the config's `adapt.object_diameter`, or the general
# model's for the dataset's cells (rule rescale).
RESCALED_SETTINGS = "results/{dataset}/rescaled/settings.yaml"
RESCALED_POSTPROCESS = "results/{dataset}/rescaled/postprocess.yaml"

# The files of a model folder (what `TrainedModel.from_folder` and the later stages read) and of
# a training folder; a dataset may name its own model folder, so these are names, not paths.
SETTINGS_FILE = "settings.yaml"
POSTPROCESS_FILE = "postprocess.yaml"
MODEL_FILE = "model.pt"
CONFIG_FILE = "config.yaml"


class Fitting(NamedTuple):
    """The files of fitting a dataset's network: adapted settings, training run, model folder."""

    settings: str
    trained: str
    candidates: str
    trained_config: str
    train_log: str
    loss_plot: str
    model_folder: str
    model: str
    model_config: str
    postprocess: str
    validation: str


def fitting(root: str) -> Fitting:
    """The fitting files under `root` (a dataset's results folder, or its images subfolder)."""
    model, train = f"{root}/model", f"{root}/train"
    return Fitting(
        settings=f"{model}/{SETTINGS_FILE}",
        trained=f"{train}/{MODEL_FILE}",
        candidates=f"{train}/candidates",
        trained_config=f"{train}/{CONFIG_FILE}",
        train_log=f"{train}/train_log.csv",
        loss_plot=f"{train}/loss.png",
        model_folder=model,
        model=f"{model}/{MODEL_FILE}",
        model_config=f"{model}/{CONFIG_FILE}",
        postprocess=f"{model}/{POSTPROCESS_FILE}",
        validation=f"{model}/validation.csv",
    )


TIMELAPSE_FIT = fitting("results/{dataset}")
IMAGES_FIT = fitting("results/{dataset}/images")

# Each job's log and benchmark file, by rule: `results/{dataset}/logs/<job>.log` and
# `results/{dataset}/benchmarks/<job>.tsv`, or under `results/` for the jobs of the whole run.
JOBS = {
    "simulate": "simulate",
    "adapt": "adapt",
    "rescale": "rescale",
    "preprocess": "preprocess/{seq}",
    "train": "train",
    "select": "select",
    "infer": "infer/{seq}",
    "cluster": "cluster/{seq}/chunk{chunk}",
    "gather_pairs": "gather_pairs/{seq}",
    "link": "link/{seq}",
    "link_masks": "link_masks/{seq}",
    "baseline": "baseline/{seq}",
    "export": "export/{method}_{seq}",
    "evaluate": "evaluate/{method}_{seq}",
    "figures": "figures/{method}_{seq}",
    "images_adapt": "images_adapt",
    "images_train": "images_train",
    "images_select": "images_select",
    "images_segment": "images_segment/{seq}",
    "images_baseline": "images_baseline/{seq}",
    "images_evaluate": "images_evaluate/{seq}",
    "warm_up_clustering": "warm_up_clustering",
    "metrics": "metrics",
    "metrics_table": "metrics_table",
    "runtimes": "runtimes",
}
RUN_JOBS = ("warm_up_clustering", "metrics", "metrics_table", "runtimes")
UNTIMED_JOBS = ("runtimes",)  # it reads the benchmark files, so it cannot have one itself


def _folder(rule: str) -> str:
    return "results" if rule in RUN_JOBS else "results/{dataset}"


def log(rule: str) -> str:
    """The log template of a rule's jobs."""
    return f"{_folder(rule)}/logs/{JOBS[rule]}.log"


def benchmark(rule: str) -> str:
    """The benchmark template of a rule's jobs."""
    if rule in UNTIMED_JOBS:
        raise ValueError(f"rule {rule} has no benchmark file")
    return f"{_folder(rule)}/benchmarks/{JOBS[rule]}.tsv"


def fill(template: str, **fields: object) -> str:
    """Fill in the named fields of a template only; the others stay wildcards for Snakemake."""
    for name, value in fields.items():
        template = template.replace("{" + name + "}", str(value))
    return template


def chunk_count(frames: int, chunk_pairs: int) -> int:
    """Number of clustering jobs for a sequence of `frames` frames (frames - 1 pairs)."""
    return max(1, math.ceil((frames - 1) / chunk_pairs))


def chunk_pair_range(frames: int, chunk_pairs: int, chunk: int) -> range:
    """The pair indices t (pairs (t, t+1)) that clustering job `chunk` clusters."""
    return range(chunk * chunk_pairs, min((chunk + 1) * chunk_pairs, frames - 1))
