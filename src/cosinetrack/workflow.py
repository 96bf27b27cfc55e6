"""What the Snakemake workflow asks of a configuration: dataset folders, sequences, targets.

Kept in the package (not in common.smk) because these functions branch, and branches want tests.
"""

from __future__ import annotations

from pathlib import Path

from cosinetrack import ctc
from cosinetrack.cluster import chunk_count
from cosinetrack.config import DatasetConfig, WorkflowConfig

SIMULATED_ROOT = Path("resources/datasets")


def dataset_root(name: str, dataset: DatasetConfig) -> Path:
    """Return the CTC folder of a dataset: the user's `path`, or where `simulate` writes it."""
    return dataset.path if dataset.path is not None else SIMULATED_ROOT / name


def simulated(cfg: WorkflowConfig) -> list[str]:
    """Return the names of the datasets the workflow simulates."""
    return [name for name, dataset in cfg.datasets.items() if dataset.simulate is not None]


def sequences(dataset: DatasetConfig) -> list[str]:
    """Return every sequence a dataset uses (training and test), in order, without repeats."""
    return list(dict.fromkeys([*(dataset.train if dataset.model is None else []), *dataset.test]))


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
    for name, dataset in cfg.datasets.items():
        if dataset.path is None:
            continue
        if not dataset.path.is_dir():
            raise ctc.CtcFormatError(f"datasets.{name}.path: folder {dataset.path} not found")
        for sequence in sequences(dataset):
            frame_count(name, dataset, sequence)
        for sequence in dataset.train if dataset.model is None else []:
            if not has_ground_truth(name, dataset, sequence):
                raise ctc.CtcFormatError(
                    f"datasets.{name}.train: sequence {sequence} has no ground truth "
                    f"({dataset.path / (sequence + '_GT') / 'TRA'} not found); "
                    f"train only on sequences with GT"
                )


def preprocess_targets(cfg: WorkflowConfig) -> list[str]:
    """Return the preprocessed stores of every sequence of every dataset."""
    return [
        f"results/{name}/prep/{sequence}.zarr"
        for name, dataset in cfg.datasets.items()
        for sequence in sequences(dataset)
    ]


def model_file(name: str, dataset: DatasetConfig) -> str:
    """The model a dataset uses: the configured `model` folder's, or the one the workflow trains."""
    folder = str(dataset.model) if dataset.model is not None else f"results/{name}/model"
    return f"{folder}/model.pt"


def pair_chunks(name: str, dataset: DatasetConfig, sequence: str, chunk_pairs: int) -> list[str]:
    """The clustering chunk stores of a sequence, one Snakemake job each."""
    frames = frame_count(name, dataset, sequence)
    return [
        f"results/{name}/pairs/{sequence}/chunk{chunk}.zarr"
        for chunk in range(chunk_count(frames, chunk_pairs))
    ]


METHODS = ("cosine",)


def result_folder(name: str, method: str, sequence: str) -> str:
    """The CTC result folder of a method on a sequence."""
    prefix = f"results/{name}" if method == "cosine" else f"results/{name}/{method}"
    return f"{prefix}/{sequence}_RES"


def metric_tables(cfg: WorkflowConfig) -> list[str]:
    """Metric tables of every method on every test sequence that has ground truth."""
    return [
        f"results/{name}/metrics/{method}_{sequence}.csv"
        for name, dataset in cfg.datasets.items()
        for sequence in dataset.test
        if has_ground_truth(name, dataset, sequence)
        for method in METHODS
    ]


def targets(cfg: WorkflowConfig) -> list[str]:
    """Every final output: results of all test sequences, and the metrics where GT exists."""
    results = [
        result_folder(name, "cosine", sequence)
        for name, dataset in cfg.datasets.items()
        for sequence in dataset.test
    ]
    return results + (["results/metrics.csv"] if metric_tables(cfg) else [])
