"""The config file as a whole: datasets, one section per stage, and the JSON schema made from it.

`workflow/schemas/config.schema.yaml` is generated from `WorkflowConfig` (`cosinetrack schema`), so
the schema Snakemake validates against and the models the package runs on cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from cosinetrack.config.sections import (
    AdaptConfig,
    BaselineConfig,
    ClusterConfig,
    EvaluateConfig,
    GroundTruthChoice,
    InferConfig,
    LinkConfig,
    ModelConfig,
    PreprocessConfig,
    SimConfig,
    StageConfig,
    TrainConfig,
)

SequenceName = Annotated[str, StringConstraints(pattern=r"^[0-9]{2,3}$")]
DatasetName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")]


class KeyValueError(ValueError):
    """A check across a section's keys that one key fails, so its message can name that key."""

    def __init__(self, key: str, message: str) -> None:
        """Keep the key the message is about (`config.errors` adds it to the dotted location)."""
        super().__init__(message)
        self.key = key


# `model: general` names the model that ships with the package, not a folder of that name.
GENERAL_MODEL = "general"


class DatasetConfig(StageConfig):
    """One dataset: simulated or a CTC folder on disk; which sequences train, which are tested."""

    simulate: SimConfig | None = None
    """Simulate this dataset with these settings (leave out `path`)."""
    path: Path | None = None
    """A folder in CTC layout (01/, 01_GT/, 02/ ...) (leave out `simulate`). With
    `segmentation`, optional: its frames' count is checked, its `{seq}_GT` scores the tracks."""
    train: list[SequenceName] = Field(["01"])
    """Sequences whose ground truth trains the network."""
    test: list[SequenceName] = Field(["02"])
    """Sequences segmented, tracked and scored."""
    validation: list[SequenceName] = Field([])
    """Sequences with ground truth, kept out of training and testing, on which the checkpoint and
    the post-processing settings are chosen; empty: the last frames of the training sequences."""
    model: Path | None = None
    """A trained model folder to use instead of training one (then `train` is not needed), or
    `general`: the general model that ships with the package (trained on a broad spread of
    simulated nuclei and phase-contrast rods), which a dataset with no `train` sequences also
    uses. A folder's settings are used as they are, for cells of the size it was trained on,
    unless `adapt.object_diameter` gives this dataset's cells' diameter; the general model is
    always brought to this dataset's cells: of `adapt.object_diameter`, else of the diameter
    estimated from the test sequences' frames (`cosinetrack.algorithms.object_size`)."""
    ground_truth: GroundTruthChoice = "gold+silver"
    """The masks that train: `gold` (`{seq}_GT/SEG`), `silver` (the challenge's computer-made
    `{seq}_ST/SEG`), or `gold+silver`: gold where a frame has it, silver for the other frames and
    for the cells gold leaves out. Cells with neither are known by their TRA marker alone."""
    kind: Literal["timelapse", "images"] = "timelapse"
    """`timelapse`: CTC sequences, segmented and tracked. `images`: still 2-D images with instance
    masks, `path/{split}/images/NAME.tif` and `path/{split}/masks/NAME.tif`, where `train`,
    `validation` and `test` name the split folders; segmented image by image by the network
    without recurrence, never linked, scored by SEG, F1 at IoU 0.5 and mean matched IoU."""
    segmentation: str | None = None
    """Masks you already have (Cellpose, StarDist, ...), tracked as they are: a folder per `test`
    sequence, `{sequence}` standing for its name (`/data/masks/{sequence}`; it may be left out
    when `test` lists one sequence). Each TIFF in the folder is one frame's label image (any
    integers, 0 background; labels need not persist between frames), in the order of the file
    names, numbers compared by value. Such a dataset is linked, exported and scored only, into
    `results/{dataset}/masks/`: leave out `train`, `validation`, `model` and `simulate`."""

    @property
    def trains(self) -> bool:
        """Whether the workflow trains a network: `train` sequences, no `model`, no masks."""
        return self.model is None and self.segmentation is None and bool(self.train)

    @property
    def general(self) -> bool:
        """Whether the packaged general model segments this dataset: named, or nothing trains."""
        if self.segmentation is not None:
            return False
        return str(self.model) == GENERAL_MODEL if self.model is not None else not self.train

    def segmentation_folder(self, sequence: str) -> Path:
        """The folder of a sequence's own label images (the `segmentation` template filled in)."""
        if self.segmentation is None:
            raise ValueError("this dataset has no `segmentation`")
        return Path(self.segmentation.replace("{sequence}", sequence))

    @model_validator(mode="after")
    def _masks_alone(self) -> Self:
        if self.segmentation is None:
            return self
        template = self.segmentation
        if set("{}") & set(template.replace("{sequence}", "")):
            raise KeyValueError(
                "segmentation",
                f"{template!r}: only `{{sequence}}` may stand in braces (the sequence's name)",
            )
        if "{sequence}" not in template and len(self.test) > 1:
            raise KeyValueError(
                "segmentation",
                f"{template!r} has no `{{sequence}}`, so the test sequences {self.test} would all "
                f"read one folder: write e.g. {template.rstrip('/')}/{{sequence}}",
            )
        if self.kind == "images":
            raise KeyValueError(
                "kind", "`segmentation` gives the masks of a time-lapse: leave out `kind`"
            )
        for key in ("simulate", "model", "train", "validation"):
            if key in self.model_fields_set:
                raise KeyValueError(
                    key,
                    f"a dataset with `segmentation` is tracked from those masks, nothing is "
                    f"simulated or trained for it: leave out `{key}`",
                )
        return self

    @model_validator(mode="after")
    def _images_from_folder(self) -> Self:
        if self.kind == "images" and self.path is None:
            raise ValueError(
                "a dataset of kind `images` is read from a folder: give its `path` "
                "(path/{split}/images/*.tif with path/{split}/masks/*.tif), not `simulate`"
            )
        return self

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if not self.test:
            raise ValueError("list at least one `test` sequence")
        if self.segmentation is not None:
            return self  # its own masks: `path` optional, nothing trained (`_masks_alone`)
        if (self.simulate is None) == (self.path is None):
            raise ValueError("give exactly one of `simulate` or `path` for each dataset")
        if self.general and self.kind == "images":
            raise KeyValueError(
                "train" if self.model is None else "model",
                "the general model segments time-lapses; still images (`kind: images`) need "
                "`train` splits with masks, or a `model` folder trained on still images",
            )
        trained = sorted(set(self.test) & set(self.train)) if self.model is None else []
        if trained:
            raise KeyValueError(
                "test",
                f"sequences {trained} are both `train` and `test` sequences; scores on the "
                f"sequences a network trained on overrate it: test on others, or give a `model`",
            )
        shared = sorted(set(self.validation) & (set(self.test) | set(self.train)))
        if shared:
            raise KeyValueError(
                "validation",
                f"validation sequences {shared} are also train or test sequences; choices are "
                f"made on data that neither trains nor is scored, so list them only once",
            )
        if self.simulate is not None:
            available = {f"{i:02d}" for i in range(1, self.simulate.sequences + 1)}
            missing = sorted((set(self.train) | set(self.test) | set(self.validation)) - available)
            if missing:
                raise ValueError(
                    f"sequences {missing} are not simulated; raise simulate.sequences "
                    f"to {max(int(s) for s in missing)}"
                )
        return self


class WorkflowConfig(StageConfig):
    """The whole workflow configuration (config.yaml)."""

    datasets: dict[DatasetName, DatasetConfig] = Field(min_length=1)
    """Datasets to process, by name; the name becomes the folder under results/."""
    preprocess: PreprocessConfig = PreprocessConfig()
    """Normalisation."""
    model: ModelConfig = ModelConfig()
    """Network architecture."""
    train: TrainConfig = TrainConfig()
    """Training."""
    adapt: AdaptConfig = AdaptConfig()
    """Settings chosen per dataset from its training and validation data."""
    infer: InferConfig = InferConfig()
    """Inference."""
    cluster: ClusterConfig = ClusterConfig()
    """Clustering of frame pairs."""
    link: LinkConfig = LinkConfig()
    """Track linking."""
    baseline: BaselineConfig = BaselineConfig()
    """Classical baseline."""
    evaluate: EvaluateConfig = EvaluateConfig()
    """Evaluation."""


def without_null_alternatives(node: Any) -> Any:
    """Replace `anyOf: [X, null]` (optional keys) by X, so a bad value is reported at its own key.

    Optional keys are meant to be left out rather than set to null, and jsonschema reports errors
    inside an `anyOf` only as "not valid under any of the given schemas" of the parent key.
    """
    if isinstance(node, list):
        return [without_null_alternatives(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {
        key: without_nulls(value) if key == "default" else without_null_alternatives(value)
        for key, value in node.items()
    }
    options = node.get("anyOf", [])
    if len(options) == 2 and {"type": "null"} in options:
        rest = {key: value for key, value in node.items() if key not in ("anyOf", "default")}
        return {**next(option for option in options if option != {"type": "null"}), **rest}
    return node


def without_nulls(value: Any) -> Any:
    """Drop null entries from a default object: Snakemake fills defaults in, null is invalid."""
    if not isinstance(value, dict):
        return value
    return {key: without_nulls(item) for key, item in value.items() if item is not None}


def json_schema() -> dict[str, Any]:
    """Return the JSON schema of config.yaml, generated from `WorkflowConfig`."""
    schema = without_null_alternatives(WorkflowConfig.model_json_schema())
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
