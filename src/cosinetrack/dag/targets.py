"""What the Snakemake workflow asks of a configuration: dataset folders, sequences, targets.

Kept in the package (not in common.smk) because these functions branch, and branches want tests.
Every path comes from the templates of `cosinetrack.dag.paths`. Snakemake imports this module at
every start, so the readers of CTC and image folders (numpy, tifffile, zarr, scikit-image) are
imported only by the functions that look at a user's folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cosinetrack.config.file import DatasetConfig, WorkflowConfig
from cosinetrack.dag import paths
from cosinetrack.dag.paths import MASKS, METHODS, chunk_count


def dataset_root(name: str, dataset: DatasetConfig) -> Path:
    """Return the CTC folder of a dataset: the user's `path`, or where `simulate` writes it."""
    return dataset.path if dataset.path is not None else Path(paths.SIMULATED.format(dataset=name))


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
    fitted = [*dataset.train, *dataset.validation] if dataset.trains else []
    return list(dict.fromkeys([*fitted, *dataset.test]))


def methods(dataset: DatasetConfig) -> tuple[str, ...]:
    """The methods whose results a time-lapse gets: its own masks tracked, or both that segment."""
    return (MASKS,) if dataset.segmentation is not None else METHODS


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
    return prep_stores(name, chosen_on)


def prep_stores(name: str, sequences: list[str]) -> list[str]:
    """The preprocessed stores of a dataset's sequences."""
    return [paths.PREP.format(dataset=name, seq=sequence) for sequence in sequences]


def frame_count(name: str, dataset: DatasetConfig, sequence: str) -> int:
    """Return the number of frames of a sequence, from the config or from the folder on disk."""
    from cosinetrack.formats import ctc_layout

    if dataset.simulate is not None:
        return dataset.simulate.frames
    folder = dataset_root(name, dataset) / sequence
    if not folder.is_dir():
        raise ctc_layout.CtcFormatError(
            f"{folder}: sequence {sequence} of dataset {name!r} not found; "
            f"fix datasets.{name}.path "
            f"or its train/test lists"
        )
    return len(ctc_layout.frame_paths(folder))


def has_ground_truth(name: str, dataset: DatasetConfig, sequence: str) -> bool:
    """Tell whether a sequence comes with ground truth (simulated ones always do)."""
    if dataset.simulate is not None:
        return True
    if dataset.path is None:  # own masks alone (`segmentation:` without `path`)
        return False
    return (dataset_root(name, dataset) / f"{sequence}_GT" / "TRA").is_dir()


# What each rule reads of a dataset's folder. Rules take these files as inputs, not the folder, so
# that editing a mask or a track table reruns exactly what read it and an unrelated file reruns
# nothing; a simulated dataset's files are not there when the DAG is built, so its rules take the
# folder the simulate rule writes. Still-image suffixes are images.SUFFIXES (not imported here:
# it brings numpy).
IMAGE_SUFFIXES = (".tif", ".tiff")
Reader = Callable[[Path, str], list[str]]


def matching(folder: Path, pattern: str) -> list[str]:
    """The files in `folder` whose names match the glob `pattern`, sorted; none without a folder."""
    return sorted(str(path) for path in folder.glob(pattern) if path.is_file())


def frame_files(root: Path, sequence: str) -> list[str]:
    """The raw frames `{seq}/t*.tif` of a CTC sequence."""
    return matching(root / sequence, "t*.tif")


def gold_files(root: Path, sequence: str) -> list[str]:
    """A sequence's ground truth `{seq}_GT`: TRA masks, `man_track.txt` and SEG masks."""
    gt = root / f"{sequence}_GT"
    tra = [*matching(gt / "TRA", "man_track*.tif"), *matching(gt / "TRA", "man_track.txt")]
    return [*tra, *matching(gt / "SEG", "man_seg*.tif")]


def silver_files(root: Path, sequence: str) -> list[str]:
    """A sequence's silver truth `{seq}_ST/SEG` masks."""
    return matching(root / f"{sequence}_ST" / "SEG", "man_seg*.tif")


def tiffs(folder: Path) -> list[str]:
    """The TIFF files of a still-image folder (any case of .tif/.tiff), sorted."""
    found = folder.glob("*")
    return sorted(str(p) for p in found if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def image_files(root: Path, split: str) -> list[str]:
    """The images `{split}/images/*.tif` of a still-image split."""
    return tiffs(root / split / "images")


def mask_files(root: Path, split: str) -> list[str]:
    """The masks `{split}/masks/*.tif` of a still-image split."""
    return tiffs(root / split / "masks")


def source_files(
    name: str, dataset: DatasetConfig, sequences: list[str], *readers: Reader
) -> list[str]:
    """The files `readers` name in each of `sequences`; a simulated dataset's whole folder."""
    if dataset.simulate is not None:
        return [paths.SIMULATED.format(dataset=name)]
    if dataset.path is None:  # own masks alone: no frames, no ground truth
        return []
    root = dataset_root(name, dataset)
    return [file for sequence in sequences for read in readers for file in read(root, sequence)]


def fitting_sequences(dataset: DatasetConfig) -> list[str]:
    """The sequences (or splits) the fitting choices are made on: validation, else training."""
    return dataset.validation or dataset.train


def preprocess_inputs(name: str, dataset: DatasetConfig, sequence: str) -> list[str]:
    """What preprocess reads: a sequence's frames, ground and silver truth."""
    return source_files(name, dataset, [sequence], frame_files, gold_files, silver_files)


def adapt_inputs(name: str, dataset: DatasetConfig) -> list[str]:
    """What adapt reads: the training sequences' truth (measured) and frames (counted)."""
    return source_files(name, dataset, dataset.train, frame_files, gold_files, silver_files)


def select_inputs(name: str, dataset: DatasetConfig) -> list[str]:
    """What select scores its choices against: the ground truth of the sequences it chooses on."""
    return source_files(name, dataset, fitting_sequences(dataset), gold_files)


def evaluate_inputs(name: str, dataset: DatasetConfig, sequence: str) -> list[str]:
    """What evaluate scores a result against: the test sequence's ground truth."""
    return source_files(name, dataset, [sequence], gold_files)


def frame_inputs(name: str, dataset: DatasetConfig, sequence: str) -> list[str]:
    """What baseline and figures read: a sequence's frames."""
    return source_files(name, dataset, [sequence], frame_files)


def segmentation_inputs(name: str, dataset: DatasetConfig, sequence: str) -> list[str]:
    """What link_masks reads: the label images of a sequence's own masks (`segmentation:`)."""
    from cosinetrack.formats import ctc_layout

    return [str(path) for path in ctc_layout.label_images(dataset.segmentation_folder(sequence))]


def raw_sequence(name: str, dataset: DatasetConfig, sequence: str) -> str | None:
    """The folder of a sequence's raw frames (None for own masks given without a `path`)."""
    if dataset.simulate is None and dataset.path is None:
        return None
    return str(dataset_root(name, dataset) / sequence)


def images_adapt_inputs(name: str, dataset: DatasetConfig) -> list[str]:
    """What images_adapt reads: training images with masks, validation images (named only)."""
    fitted = source_files(name, dataset, dataset.train, image_files, mask_files)
    return fitted + source_files(name, dataset, dataset.validation, image_files)


def images_train_inputs(name: str, dataset: DatasetConfig) -> list[str]:
    """What images_train reads: the training splits' images and masks."""
    return source_files(name, dataset, dataset.train, image_files, mask_files)


def images_select_inputs(name: str, dataset: DatasetConfig) -> list[str]:
    """What images_select reads: images and masks of the splits it chooses on."""
    return source_files(name, dataset, fitting_sequences(dataset), image_files, mask_files)


def split_inputs(name: str, dataset: DatasetConfig, split: str) -> list[str]:
    """What images_segment and images_baseline read: a split's images."""
    return source_files(name, dataset, [split], image_files)


def scored_split_inputs(name: str, dataset: DatasetConfig, split: str) -> list[str]:
    """What images_evaluate reads: a split's images and masks."""
    return source_files(name, dataset, [split], image_files, mask_files)


def check_sources(cfg: WorkflowConfig) -> None:
    """Fail early, naming the config key, when a user's folder lacks what the config needs."""
    from cosinetrack.stills import layout

    for name, dataset in stills(cfg).items():
        layout.check_images_dataset(
            name, dataset.path, dataset.train, dataset.validation, dataset.test
        )
    for name, dataset in timelapses(cfg).items():
        if dataset.path is not None:
            check_folder(name, dataset)
        if dataset.segmentation is not None:
            check_masks(name, dataset)


def check_folder(name: str, dataset: DatasetConfig) -> None:
    """Refuse a user's CTC folder that lacks a sequence, or the truth training needs."""
    from cosinetrack.formats import ctc_layout

    assert dataset.path is not None
    if not dataset.path.is_dir():
        raise ctc_layout.CtcFormatError(f"datasets.{name}.path: folder {dataset.path} not found")
    for sequence in sequences(dataset):
        frame_count(name, dataset, sequence)
    needs_gt = {
        "train": "train only on sequences with GT",
        "validation": "validation sequences are scored against their GT, so they need it",
    }
    for key, advice in needs_gt.items() if dataset.trains else []:
        for sequence in getattr(dataset, key):
            if not has_ground_truth(name, dataset, sequence):
                raise ctc_layout.CtcFormatError(
                    f"datasets.{name}.{key}: sequence {sequence} has no ground truth "
                    f"({dataset.path / (sequence + '_GT') / 'TRA'} not found); {advice}"
                )


def check_masks(name: str, dataset: DatasetConfig) -> None:
    """Refuse own masks (`segmentation:`) that are missing, or not one label image per frame.

    File names only: whether each image is a 2-D integer label image is checked by link_masks.
    """
    from cosinetrack.formats import ctc_layout

    key = f"datasets.{name}.segmentation"
    for sequence in dataset.test:
        folder = dataset.segmentation_folder(sequence)
        if not folder.is_dir():
            raise ctc_layout.CtcFormatError(
                f"{key}: folder {folder} of sequence {sequence} not found"
            )
        try:
            masks = ctc_layout.label_images(folder)
        except ctc_layout.CtcFormatError:
            raise ctc_layout.CtcFormatError(
                f"{key}: folder {folder} of sequence {sequence} holds no label images "
                f"(*.tif, *.tiff)"
            ) from None
        frames = frame_count(name, dataset, sequence) if dataset.path is not None else len(masks)
        if len(masks) != frames:
            raise ctc_layout.CtcFormatError(
                f"{key}: {len(masks)} label images in {folder}, but sequence {sequence} has "
                f"{frames} frames ({dataset.path / sequence}); give one label image per frame"
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
    """The model folder a dataset uses: the general one, the one it names, or the one it trains."""
    if dataset.general:
        return paths.GENERAL_MODEL_FOLDER
    if dataset.model is not None:
        return str(dataset.model)
    fit = paths.IMAGES_FIT if dataset.kind == "images" else paths.TIMELAPSE_FIT
    return fit.model_folder.format(dataset=name)


def initial_weights(cfg: WorkflowConfig) -> list[str]:
    """The model.pt training starts from: the general model's with `train.init: general`."""
    if cfg.train.init == "general":
        return [f"{paths.GENERAL_MODEL_FOLDER}/{paths.MODEL_FILE}"]
    return []


def rescales(dataset: DatasetConfig, cfg: WorkflowConfig) -> bool:
    """Whether a model's settings are rescaled to the dataset's cells (rule rescale).

    The general model's always (to `adapt.object_diameter` or an estimate); a named folder's when
    `adapt.object_diameter` is given.
    """
    return dataset.general or (dataset.model is not None and cfg.adapt.object_diameter is not None)


def rescale_inputs(name: str, dataset: DatasetConfig, cfg: WorkflowConfig) -> list[str]:
    """What rescale reads besides the model: the test frames, when the diameter is estimated."""
    if cfg.adapt.object_diameter is not None:
        return []
    return source_files(name, dataset, dataset.test, frame_files)


def settings_path(name: str, dataset: DatasetConfig, cfg: WorkflowConfig, file: str) -> str:
    """The settings.yaml or postprocess.yaml a dataset's stages read.

    The model folder's, or for a named model and a given object diameter the rescaled ones that
    rule rescale writes.
    """
    if rescales(dataset, cfg):
        template = {
            paths.SETTINGS_FILE: paths.RESCALED_SETTINGS,
            paths.POSTPROCESS_FILE: paths.RESCALED_POSTPROCESS,
        }[file]
        return template.format(dataset=name)
    return model_path(name, dataset, file)


def model_path(name: str, dataset: DatasetConfig, file: str) -> str:
    """A file of the model folder a dataset uses (model.pt, settings.yaml, postprocess.yaml)."""
    return f"{model_folder(name, dataset)}/{file}"


def model_file(name: str, dataset: DatasetConfig) -> str:
    """The model a dataset uses: the configured `model` folder's, or the one the workflow trains."""
    return model_path(name, dataset, paths.MODEL_FILE)


def chunk_stores(name: str, dataset: DatasetConfig, sequence: str, chunk_pairs: int) -> list[str]:
    """The clustering chunk stores of a sequence, one Snakemake job each."""
    frames = frame_count(name, dataset, sequence)
    return [
        paths.CLUSTER_CHUNK.format(dataset=name, seq=sequence, chunk=chunk)
        for chunk in range(chunk_count(frames, chunk_pairs))
    ]


FITTING = ("adapt", "train", "select")  # the jobs that make a model folder (images_*)


def result_folder(name: str, method: str, sequence: str) -> str:
    """The CTC result folder of a method on a sequence."""
    return paths.RESULT.format(dataset=name, method=method, seq=sequence)


def metric_tables(cfg: WorkflowConfig) -> list[str]:
    """Metric tables of every method on every test sequence that has ground truth."""
    return [
        paths.METRICS.format(dataset=name, method=method, seq=sequence)
        for name, dataset in timelapses(cfg).items()
        for sequence in dataset.test
        if has_ground_truth(name, dataset, sequence)
        for method in methods(dataset)
    ]


def scored_splits(name: str, dataset: DatasetConfig) -> list[str]:
    """The test splits of a still-image dataset that come with masks."""
    from cosinetrack.stills import layout

    return [s for s in dataset.test if layout.has_masks(dataset_root(name, dataset), s)]


def benchmark_files(cfg: WorkflowConfig) -> list[str]:
    """The Snakemake benchmark file of every job that makes the results and figures."""
    files = [jobs_file("metrics"), jobs_file("metrics_table")] if metric_tables(cfg) else []
    if any(dataset.segmentation is None for dataset in cfg.datasets.values()):
        files.append(jobs_file("warm_up_clustering"))  # a dataset the network segments
    for name, dataset in cfg.datasets.items():
        files += [jobs_file("simulate", name)] if dataset.simulate is not None else []
        fitted = FITTING if dataset.trains else ()
        prefix = "images_" if dataset.kind == "images" else ""  # the still images' rules
        files += [jobs_file(prefix + job, name) for job in fitted]
        files += [jobs_file("rescale", name)] if rescales(dataset, cfg) else []
        if dataset.kind == "images":
            files += split_jobs(name, dataset)
        elif dataset.segmentation is not None:
            files += mask_jobs(name, dataset)
        else:
            files += sequence_jobs(name, dataset, cfg.cluster.chunk_pairs)
    return files


def mask_jobs(name: str, dataset: DatasetConfig) -> list[str]:
    """Benchmark files of a dataset's own masks: link_masks, export and, with GT, evaluate."""
    files = []
    for seq in dataset.test:
        jobs = ("export", "evaluate") if has_ground_truth(name, dataset, seq) else ("export",)
        files.append(jobs_file("link_masks", name, seq=seq))
        files += [jobs_file(job, name, method=MASKS, seq=seq) for job in jobs]
    return files


def sequence_jobs(name: str, dataset: DatasetConfig, chunk_pairs: int) -> list[str]:
    """Benchmark files of a time-lapse's per-sequence jobs: preprocess, and each test's stages."""
    files = [jobs_file("preprocess", name, seq=seq) for seq in sequences(dataset)]
    for seq in dataset.test:
        files += [jobs_file(job, name, seq=seq) for job in ("infer", "gather_pairs")]
        chunks = range(chunk_count(frame_count(name, dataset, seq), chunk_pairs))
        files += [jobs_file("cluster", name, seq=seq, chunk=c) for c in chunks]
        files += [jobs_file(job, name, seq=seq) for job in ("link", "baseline")]
        scored = has_ground_truth(name, dataset, seq)
        jobs = ("figures", "export", "evaluate") if scored else ("figures", "export")
        files += [jobs_file(job, name, method=m, seq=seq) for job in jobs for m in METHODS]
    return files


def split_jobs(name: str, dataset: DatasetConfig) -> list[str]:
    """Benchmark files of a still-image dataset's per-split jobs: segment, baseline, evaluate."""
    jobs = ("images_segment", "images_baseline")
    files = [jobs_file(job, name, seq=s) for s in dataset.test for job in jobs]
    return files + [jobs_file("images_evaluate", name, seq=s) for s in scored_splits(name, dataset)]


def jobs_file(rule: str, name: str = "", **wildcards: str | int) -> str:
    """The benchmark file of one job of a rule, on dataset `name` (none for whole-run jobs)."""
    return paths.benchmark(rule).format(dataset=name, **wildcards)


def targets(cfg: WorkflowConfig) -> list[str]:
    """Every final output: each dataset's results, metrics where GT exists, the runtimes plot."""
    files = [file for name, dataset in cfg.datasets.items() for file in results(name, dataset)]
    if metric_tables(cfg):
        files += [paths.ALL_METRICS, paths.METRICS_TABLE]
    return [*files, paths.RUNTIMES_PLOT]


# What each method leaves of a test sequence: tracks, overlays, lineage, exports; of own masks
# (`segmentation:`), the tracks and their exports (the workflow adds no figure to them).
SEQUENCE_RESULTS = (paths.RESULT, paths.OVERLAY, paths.LINEAGE, paths.GEFF, paths.OBJECTS)
MASK_RESULTS = (paths.RESULT, paths.GEFF, paths.OBJECTS)


def results(name: str, dataset: DatasetConfig) -> list[str]:
    """A dataset's final outputs: every method's on each test sequence or split, image scores."""
    if dataset.kind == "images":
        labels = [
            paths.IMAGE_LABELS.format(dataset=name, method=m, seq=s)
            for s in dataset.test
            for m in METHODS
        ]
        scores = [
            paths.IMAGE_METRICS.format(dataset=name, seq=s) for s in scored_splits(name, dataset)
        ]
        return labels + scores
    made = MASK_RESULTS if dataset.segmentation is not None else SEQUENCE_RESULTS
    return [
        template.format(dataset=name, method=method, seq=sequence)
        for sequence in dataset.test
        for method in methods(dataset)
        for template in made
    ]
