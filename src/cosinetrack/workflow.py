"""What the Snakemake workflow asks of a configuration: dataset folders, sequences, targets.

Kept in the package (not in common.smk) because these functions branch, and branches want tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cosinetrack import ctc, images
from cosinetrack.cluster import chunk_count
from cosinetrack.config import DatasetConfig, WorkflowConfig

SIMULATED_ROOT = Path("resources/datasets")


def dataset_root(name: str, dataset: DatasetConfig) -> Path:
    """Return the CTC folder of a dataset: the user's `path`, or where `simulate` writes it."""
    return dataset.path if dataset.path is not None else SIMULATED_ROOT / name


def timelapses(cfg: WorkflowConfig) -> dict[str, DatasetConfig]:
    """The datasets that are time-lapses (CTC sequences, tracked), by name."""
    return {name: d for name, d in cfg.datasets.items() if d.kind == "timelapse"}


def stills(cfg: WorkflowConfig) -> dict[str, DatasetConfig]:
    """The datasets of still images (`kind: images`), by name."""
    return {name: d for name, d in cfg.datasets.items() if d.kind == "images"}


def simulated(cfg: WorkflowConfig) -> list[str]:
    """Return the names of the datasets the workflow simulates."""
    return [name for name, dataset in cfg.datasets.items() if dataset.simulate is not None]


def sequences(dataset: DatasetConfig) -> list[str]:
    """Return every sequence a dataset uses (training, validation, test), in order, once each."""
    fitted = [*dataset.train, *dataset.validation] if dataset.model is None else []
    return list(dict.fromkeys([*fitted, *dataset.test]))


# Sections whose settings adaptation and tuning may choose (explicit config values always win).
ADAPTED_SECTIONS = ("preprocess", "train", "cluster", "link", "baseline", "infer")


def explicit(cfg: WorkflowConfig) -> dict[str, dict[str, Any]]:
    """The keys the user's config sets in each adaptable section, with their values."""
    sections = {name: getattr(cfg, name) for name in ADAPTED_SECTIONS}
    return {
        name: section.model_dump(include=section.model_fields_set)
        for name, section in sections.items()
    }


def stage_defaults(cfg: WorkflowConfig) -> dict[str, dict[str, Any]]:
    """Every adaptable section of the workflow config (defaults filled in)."""
    return {name: getattr(cfg, name).model_dump() for name in ADAPTED_SECTIONS}


def validation_stores(name: str, dataset: DatasetConfig) -> list[str]:
    """Stores of the frames a dataset's choices are made on: its validation or training ones."""
    chosen_on = dataset.validation or dataset.train
    return [f"results/{name}/prep/{sequence}.zarr" for sequence in chosen_on]


def frame_count(name: str, dataset: DatasetConfig, sequence: str) -> int:
    """Return the number of frames of a sequence, from the config or from the folder on disk."""
    if dataset.simulate is not None:
        return dataset.simulate.frames
    folder = dataset_root(name, dataset) / sequence
    if not folder.is_dir():
        raise ctc.CtcFormatError(
            f"{folder}: sequence {sequence} of dataset {name!r} not found; "
            f"fix datasets.{name}.path "
            f"or its train/test lists"
        )
    return len(ctc.frame_paths(folder))


def has_ground_truth(name: str, dataset: DatasetConfig, sequence: str) -> bool:
    """Tell whether a sequence comes with ground truth (simulated ones always do)."""
    if dataset.simulate is not None:
        return True
    return (dataset_root(name, dataset) / f"{sequence}_GT" / "TRA").is_dir()


def check_sources(cfg: WorkflowConfig) -> None:
    """Fail early, naming the config key, when a user's CTC folder lacks what the config needs."""
    for name, dataset in stills(cfg).items():
        images.check_images_dataset(
            name, dataset.path, dataset.train, dataset.validation, dataset.test
        )
    for name, dataset in timelapses(cfg).items():
        if dataset.path is None:
            continue
        if not dataset.path.is_dir():
            raise ctc.CtcFormatError(f"datasets.{name}.path: folder {dataset.path} not found")
        for sequence in sequences(dataset):
            frame_count(name, dataset, sequence)
        for sequence in [*dataset.train, *dataset.validation] if dataset.model is None else []:
            if not has_ground_truth(name, dataset, sequence):
                raise ctc.CtcFormatError(
                    f"datasets.{name}.train: sequence {sequence} has no ground truth "
                    f"({dataset.path / (sequence + '_GT') / 'TRA'} not found); "
                    f"train only on sequences with GT"
                )


def gpus(device: str) -> int:
    """GPUs a train or infer job declares: one on CUDA, or with 'auto' where an NVIDIA driver is.

    Declared GPUs let Snakemake run GPU jobs one at a time on one card (profiles/default) and let
    a cluster executor request a card; /dev/nvidiactl is checked rather than importing torch,
    which would slow down every Snakemake start.
    """
    if device == "auto":
        return int(Path("/dev/nvidiactl").exists())
    return int(device == "cuda")


def model_folder(name: str, dataset: DatasetConfig) -> str:
    """The model folder a dataset uses: the configured `model`, or the one the workflow makes."""
    return str(dataset.model) if dataset.model is not None else f"results/{name}/model"


def model_path(name: str, dataset: DatasetConfig, file: str) -> str:
    """A file of the model folder a dataset uses (model.pt, settings.yaml, postprocess.yaml)."""
    return f"{model_folder(name, dataset)}/{file}"


def model_file(name: str, dataset: DatasetConfig) -> str:
    """The model a dataset uses: the configured `model` folder's, or the one the workflow trains."""
    return model_path(name, dataset, "model.pt")


def pair_chunks(name: str, dataset: DatasetConfig, sequence: str, chunk_pairs: int) -> list[str]:
    """The clustering chunk stores of a sequence, one Snakemake job each."""
    frames = frame_count(name, dataset, sequence)
    return [
        f"results/{name}/pairs/{sequence}/chunk{chunk}.zarr"
        for chunk in range(chunk_count(frames, chunk_pairs))
    ]


METHODS = ("cosine", "baseline")
FITTING = ("adapt", "train", "select")  # the jobs that make a dataset's model folder


def result_folder(name: str, method: str, sequence: str) -> str:
    """The CTC result folder of a method on a sequence."""
    prefix = f"results/{name}" if method == "cosine" else f"results/{name}/{method}"
    return f"{prefix}/{sequence}_RES"


def metric_tables(cfg: WorkflowConfig) -> list[str]:
    """Metric tables of every method on every test sequence that has ground truth."""
    return [
        f"results/{name}/metrics/{method}_{sequence}.csv"
        for name, dataset in timelapses(cfg).items()
        for sequence in dataset.test
        if has_ground_truth(name, dataset, sequence)
        for method in METHODS
    ]


def benchmark_files(cfg: WorkflowConfig) -> list[str]:
    """The Snakemake benchmark file of every job that makes the results and figures."""
    files = [f"results/benchmarks/{job}.tsv" for job in ("metrics", "metrics_table")]
    files = files if metric_tables(cfg) else []
    files.append("results/benchmarks/warm_up_clustering.tsv")  # every dataset has a test sequence
    files += image_benchmarks(cfg)
    for name, dataset in timelapses(cfg).items():
        bench = f"results/{name}/benchmarks"
        files += [f"{bench}/simulate.tsv"] if dataset.simulate is not None else []
        files += [f"{bench}/{job}.tsv" for job in FITTING] if dataset.model is None else []
        files += [f"{bench}/preprocess/{seq}.tsv" for seq in sequences(dataset)]
        for seq in dataset.test:
            chunks = pair_chunks(name, dataset, seq, cfg.cluster.chunk_pairs)
            files += [f"{bench}/infer/{seq}.tsv", f"{bench}/gather_pairs/{seq}.tsv"]
            files += [f"{bench}/cluster/{seq}/{Path(c).stem}.tsv" for c in chunks]
            files += [f"{bench}/link/{seq}.tsv", f"{bench}/baseline/{seq}.tsv"]
            files += [f"{bench}/figures/{m}_{seq}.tsv" for m in METHODS]
            files += [f"{bench}/export/{m}_{seq}.tsv" for m in METHODS]
            if has_ground_truth(name, dataset, seq):
                files += [f"{bench}/evaluate/{m}_{seq}.tsv" for m in METHODS]
    return files


def targets(cfg: WorkflowConfig) -> list[str]:
    """Every final output: results and figures of all test sequences, metrics where GT exists."""
    files = [
        path
        for name, dataset in timelapses(cfg).items()
        for sequence in dataset.test
        for method in METHODS
        for path in (
            result_folder(name, method, sequence),
            f"results/{name}/figures/{method}_{sequence}_overlay.gif",
            f"results/{name}/figures/{method}_{sequence}_lineage.png",
            f"results/{name}/{method}/{sequence}.geff.zarr",
            f"results/{name}/{method}/{sequence}_objects.csv",
        )
    ]
    if metric_tables(cfg):
        files += ["results/metrics.csv", "results/metrics_table.csv"]
    return [*files, *image_targets(cfg), "results/runtimes.png"]


def image_model_folder(name: str, dataset: DatasetConfig) -> str:
    """The model folder a still-image dataset uses: the configured `model`, or its own."""
    return str(dataset.model) if dataset.model is not None else f"results/{name}/images/model"


def scored_splits(name: str, dataset: DatasetConfig) -> list[str]:
    """The test splits of a still-image dataset that come with masks."""
    return [s for s in dataset.test if images.has_masks(dataset_root(name, dataset), s)]


def image_targets(cfg: WorkflowConfig) -> list[str]:
    """Labelled images of both methods on every still-image test split, scores where masks are."""
    files = []
    for name, dataset in stills(cfg).items():
        files += [f"results/{name}/images/{m}/{s}" for s in dataset.test for m in METHODS]
        files += [f"results/{name}/images/metrics/{s}.csv" for s in scored_splits(name, dataset)]
    return files


def image_benchmarks(cfg: WorkflowConfig) -> list[str]:
    """The benchmark file of every job of the still-image datasets."""
    files = []
    for name, dataset in stills(cfg).items():
        bench = f"results/{name}/benchmarks"
        fitting = ("images_adapt", "images_train", "images_select")
        files += [f"{bench}/{job}.tsv" for job in fitting] if dataset.model is None else []
        jobs = ("images_segment", "images_baseline")
        files += [f"{bench}/{job}/{s}.tsv" for s in dataset.test for job in jobs]
        files += [f"{bench}/images_evaluate/{s}.tsv" for s in scored_splits(name, dataset)]
    return files
