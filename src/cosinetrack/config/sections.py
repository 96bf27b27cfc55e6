"""Typed configuration: one pydantic model per workflow stage.

The same classes are built from Snakemake params, from the CLI and in tests. The config file as a
whole (its datasets and one section per stage) and the JSON schema generated from it are in
`cosinetrack.config.file`.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

Device = Literal["auto", "cpu", "cuda"]


class StageConfig(BaseModel):
    """Base of every stage's configuration: unknown keys are errors, field docstrings document."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)


GroundTruthChoice = Literal["gold", "silver", "gold+silver"]
"""Which masks train: gold SEG (`{seq}_GT/SEG`), silver (`{seq}_ST/SEG`), or gold where a frame
has it and silver for the other frames and for the cells gold leaves out."""


Cells = Literal["nuclei", "rods"]

# The keys that shape only one kind of simulated cell; the others are shared.
NUCLEI_KEYS = ("density", "radius", "division_rate")
ROD_KEYS = ("rod_width", "birth_length", "growth_rate", "initial_cells")


class SimConfig(StageConfig):
    """A synthetic time-lapse in CTC layout with ground truth: fluorescent nuclei or rods.

    The ground truth is full (whole masks in TRA) or as the challenge ships it (markers, sparse
    and partial SEG, silver truth).
    """

    cells: Cells = "nuclei"
    """What is simulated: `nuclei` (fluorescent star-shaped nuclei that wander, press and divide
    in a crowd of constant density) or `rods` (a microcolony of rod-shaped bacteria in phase
    contrast, dark with bright halos, growing from a few cells to a packed colony). `density`,
    `radius` and `division_rate` shape nuclei only; `rod_width`, `birth_length`, `growth_rate` and
    `initial_cells` shape rods only."""
    height: int = Field(256, ge=32, le=4096)
    """Frame height in pixels."""
    width: int = Field(256, ge=32, le=4096)
    """Frame width in pixels."""
    frames: int = Field(40, ge=2, le=2000)
    """Number of frames per sequence."""
    sequences: int = Field(2, ge=1, le=9)
    """Number of sequences (01, 02, ...), each simulated with its own seed."""
    density: float = Field(0.25, gt=0.0, le=0.8)
    """Fraction of the field of view covered by nuclei at the start; kept roughly by entries
    (nuclei only)."""
    radius: float = Field(12.0, ge=3.0, le=60.0)
    """Mean nucleus radius in pixels (nuclei only)."""
    division_rate: float = Field(0.012, ge=0.0, le=0.2)
    """Probability per nucleus and frame that a grown nucleus divides (nuclei only)."""
    rod_width: float = Field(8.0, ge=3.0, le=60.0)
    """Mean width of a rod (its capsule's diameter) in pixels; each rod's width varies by about
    5% (rods only)."""
    birth_length: float = Field(20.0, ge=4.0, le=400.0)
    """Mean tip-to-tip length of a newborn rod in pixels, at least `rod_width`; a rod divides
    across its middle when it reaches about twice this (rods only)."""
    growth_rate: float = Field(0.075, gt=0.0, le=0.7)
    """Relative growth of a rod's length per frame (exponential; each rod's rate varies by about
    10%), so the colony doubles about every ln 2 / growth_rate frames (rods only)."""
    initial_cells: int = Field(3, ge=1, le=64)
    """Rods at frame 0, side by side near the centre of the frame (rods only)."""
    seg_fraction: float = Field(0.5, ge=0.0, le=1.0)
    """Fraction of frames with segmentation ground truth (SEG), evenly spaced from frame 0 (0: no
    SEG at all); TRA is on every frame."""
    seg_coverage: float = Field(1.0, gt=0.0, le=1.0)
    """Fraction of the cells of a SEG frame that are annotated, drawn at random (the gold SEG of
    several challenge datasets leaves cells out)."""
    markers: bool = False
    """TRA holds a marker inside each cell (a disk of a third of its inner radius around its
    innermost point), as the challenge's gold tracking truth, instead of the whole mask."""
    silver: bool = False
    """Also write a silver truth `{seq}_ST/SEG` on every frame, as the challenge ships for some
    datasets: every cell's mask with one-pixel outline noise (each grown, shrunk or kept)."""
    min_size: int = Field(10, ge=1, le=1000)
    """Smallest mask in pixels; a cell that shows less (leaving the view) ends its track."""
    seed: int = Field(1, ge=0)
    """Random seed; the same seed gives the same dataset byte for byte."""

    @model_validator(mode="after")
    def _rods_are_long(self) -> Self:
        # Keys of the other kind of cell are ignored rather than refused: the workflow passes a
        # dataset's whole dumped section, defaults included, to the simulate script.
        if self.cells == "rods" and self.birth_length < self.rod_width:
            raise ValueError(
                f"birth_length ({self.birth_length}) is shorter than rod_width "
                f"({self.rod_width}): a rod is longer than wide; raise birth_length"
            )
        return self

    def recorded(self) -> dict[str, object]:
        """The keys that shape this dataset, as JSON values, for the record beside it.

        Nuclei datasets record exactly the keys they had before rods existed, so their record is
        unchanged byte for byte.
        """
        skip = {"cells", *ROD_KEYS} if self.cells == "nuclei" else set(NUCLEI_KEYS)
        return self.model_dump(mode="json", exclude=skip)


class PreprocessConfig(StageConfig):
    """Image normalisation applied identically in training and inference."""

    sigma: float = Field(1.0, ge=0.0, le=10.0)
    """Gaussian prefilter sigma in pixels of the original frames (0 disables it)."""
    low_quantile: float = Field(0.001, ge=0.0, lt=0.5)
    """Intensity quantile of each frame mapped to -1."""
    high_quantile: float = Field(0.999, gt=0.5, le=1.0)
    """Intensity quantile of each frame mapped to +1 (values beyond are kept, not clipped)."""
    scale: float = Field(1.0, ge=0.1, le=4.0)
    """Resize factor from the original frames to the network's working size (0.5 halves each
    side, four times less work); result masks are resized back to the original frames. Chosen
    from the measured object size unless set here (see `adapt`; 0.5 on the embedded default)."""
    marker_margin: float = Field(10.0, ge=0.0, le=1000.0)
    """Pixels of the original frames around a cell known only by its TRA marker (no SEG or
    silver-truth mask in that frame) that are not taught as background, since the cell's outline
    is unknown there. Half the measured object diameter (half the length of elongated objects)
    unless set here (see `adapt`)."""


class ModelConfig(StageConfig):
    """Recurrent stacked hourglass network; the reference is 7 levels, 64 filters, 16 dimensions."""

    levels: int = Field(4, ge=1, le=9)
    """Hourglass levels (resolutions); frames are padded to a multiple of 2**(levels-1)."""
    filters: int = Field(32, ge=4, le=256)
    """Convolution filters on every level (the reference keeps them constant)."""
    embedding_dim: int = Field(16, ge=2, le=64)
    """Number of embedding channels D per pixel."""
    stacks: int = Field(2, ge=1, le=4)
    """Stacked hourglasses; stack k>1 sees the image plus the normalised embeddings of stack k-1."""
    norm: Literal["none", "group"] = "group"
    """Normalisation after each contracting and expanding convolution: none (the reference) or
    group normalisation (groups of 4 channels), which trains in fewer steps."""
    recurrent: bool = True
    """ConvGRUs on the skip connections carry memory from frame to frame; false passes each skip
    through unchanged (no recurrence, no ConvGRU weights). Still-image datasets (`kind: images`)
    always train without recurrence, whatever this says."""


class TrainConfig(StageConfig):
    """Training schedule, sampling, augmentation and loss settings."""

    iterations: int = Field(1200, ge=1)
    """Optimiser steps."""
    clip_frames: int = Field(4, ge=1, le=64)
    """Consecutive frames per training clip (reference 10)."""
    crop: int = Field(64, ge=16)
    """Side of the square random crop in pixels of the working size (frames smaller than this are
    an error). Chosen from the measured object size unless set here (see `adapt`)."""
    batch_size: int = Field(4, ge=1, le=64)
    """Clips per optimiser step."""
    learning_rate: float = Field(2e-3, gt=0.0, le=1.0)
    """Adam learning rate at the start."""
    lr_decay_at: float = Field(0.8, gt=0.0, le=1.0)
    """Fraction of the iterations after which the learning rate drops to a tenth."""
    weight_decay: float = Field(1e-5, ge=0.0)
    """L2 weight decay on convolution kernels."""
    neighbour_radius: float = Field(3.0, ge=0.0)
    """r_N in pixels of the working size: instances closer than this must get different embeddings
    (small radii learn fastest; cells further apart are told apart by their pixel coordinates).
    Chosen from the measured object size unless set here (see `adapt`)."""
    max_instances: int = Field(32, ge=1, le=256)
    """Instances per clip that enter the loss (a random subset beyond this). Raised from the
    measured density unless set here (see `adapt`)."""
    object_crops: float = Field(0.0, ge=0.0, le=1.0)
    """Share of the training crops centred on an object (a random instance of the clip's first
    frame, its pixel shifted by up to a quarter crop); the others are drawn uniformly over the
    frame. Where objects are sparse, uniform crops hold hardly any. Chosen from the measured
    coverage unless set here (see `adapt`: 0.8 below 5% of the frames, else 0)."""
    intensity_shift: float = Field(0.15, ge=0.0, le=1.0)
    """Largest random additive intensity shift per clip (normalised units)."""
    intensity_scale: float = Field(0.15, ge=0.0, le=0.9)
    """Largest random relative intensity scaling per clip."""
    device: Device = "auto"
    """Where to train: 'auto' takes CUDA when present, else the CPU."""
    mixed_precision: bool = True
    """Train the network under bfloat16 autocast (the loss stays float32): on CUDA, and on CPUs
    with native bfloat16 units (AVX512-BF16, AMX), where a training step takes about 0.71 of its
    float32 time (benchmarks/network.py); ignored on other CPUs. Inference stays float32."""
    init: Literal["random", "general"] = "random"
    """The weights training starts from: `random`, or `general`, the general model that ships
    with the package (fine-tuning; the network keys under `model` must then be its own, the
    defaults)."""
    candidates: list[Annotated[float, Field(gt=0.0, le=1.0)]] = Field([0.8, 1.0], min_length=1)
    """Fractions of the iterations after which the weights are kept as candidates; the one that
    scores best on the validation frames becomes the model (`adapt.tune`), else the last one."""
    checkpoint_every: int = Field(250, ge=1)
    """Iterations between checkpoints that an interrupted run resumes from."""
    log_every: int = Field(10, ge=1)
    """Iterations between rows of train_log.csv."""
    seed: int = Field(0, ge=0)
    """Seed of weights, sampling and augmentation; CPU runs are deterministic for a seed."""


class InferConfig(StageConfig):
    """Streaming inference over whole sequences."""

    device: Device = "auto"
    """Where to run the network: 'auto' takes CUDA when present, else the CPU."""
    window: int | None = Field(None, ge=0)
    """Frames per run of the network from zero memory: each frame pair is embedded by a run that
    ends at it, with at least half a window of context. Empty: the clip length the model was
    trained on (runs longer than that drift); 0: one run over the whole sequence."""
    tile: int = Field(1024, ge=32)
    """Frames larger than this (either side, pixels of the working size) are processed in
    overlapping tiles of this size."""
    tile_overlap: int = Field(128, ge=0)
    """Overlap between neighbouring tiles in pixels; each output pixel comes from the tile whose
    centre is nearest, so the overlap/2 next to a tile edge is never used."""

    @model_validator(mode="after")
    def _overlap_fits(self) -> Self:
        if self.tile_overlap >= self.tile:
            raise ValueError(
                f"tile_overlap ({self.tile_overlap}) must be smaller than tile ({self.tile})"
            )
        return self


class ClusterConfig(StageConfig):
    """Clustering of consecutive frame pairs into instances."""

    knn_graph: int = Field(8, ge=0)
    """Build HDBSCAN's spanning tree from each point's k nearest neighbours (Kruskal on the
    k-nearest-neighbour graph, cosinetrack.algorithms.knn_hdbscan) instead of the exact tree over
    all point pairs (0). Groups of points that no neighbour edge joins stay apart, which at k = 8
    scores within 0.005 of the exact tree on the default data (benchmarks/clustering.py). The
    exact tree holds all point pairs of an HDBSCAN call at once (72 bytes each): a call whose
    pairs would need more than the machine's physical memory is refused before it starts."""
    scope: Literal["pair", "component"] = "component"
    """Run HDBSCAN on all foreground pixels of a pair at once, or on each connected foreground
    region of the pair on its own (faster; instances never span regions anyway)."""
    subsample: int = Field(1, ge=1, le=8)
    """Cluster only the pixels on every k-th row and column (k*k fewer points; min_cluster_size is
    scaled to match); every other pixel joins the cluster of its nearest clustered pixel in
    feature space. 2 clusters 3-5 times faster with the same SEG and TRA, but splinters cell
    borders into short false tracks (CHOTA and MOTA drop by 0.05-0.1 on the default data)."""
    min_cluster_size: int = Field(20, ge=2)
    """HDBSCAN min_cluster_size in pixels of the working size, over the two-frame volume. Chosen
    from the object size and on the validation frames unless set here (see `adapt`)."""
    min_samples: int = Field(5, ge=1)
    """HDBSCAN min_samples (density smoothing)."""
    selection_epsilon: float = Field(0.2, ge=0.0)
    """HDBSCAN cluster_selection_epsilon: clusters closer than this in feature space are not split,
    which keeps a cell of uniform embedding from breaking into arbitrary pieces."""
    allow_single_cluster: bool = True
    """Whether HDBSCAN may keep a whole connected foreground region as one cluster (its root).
    Needed where a region is one cell; where cells pack into one region (a colony of rods) the
    root can outweigh every split and the colony comes out as one cell. Chosen on the validation
    frames unless set here (see `select`)."""
    coordinate_factor: float = Field(0.01, ge=0.0)
    """Weight c per pixel of the working size of the (y, x) coordinates appended to the
    embedding. Chosen from the object size unless set here (see `adapt`)."""
    background_threshold: float = Field(0.5, gt=-1.0, lt=1.0)
    """Pixels whose cosine to the background direction exceeds this are background. Chosen on the
    validation frames unless set here (see `adapt`)."""
    noise: Literal["background", "nearest"] = "nearest"
    """What becomes of points HDBSCAN calls noise: background (the reference), or the cluster of
    the nearest clustered point (they are foreground by the background test already)."""
    min_instance_size: int = Field(10, ge=0)
    """Connected components smaller than this many pixels of the working size (per frame pair) are
    dropped. Chosen from the object size unless set here (see `adapt`)."""
    chunk_pairs: int = Field(50, ge=1)
    """Frame pairs per clustering job; chunks run as separate Snakemake jobs. Each job first pays
    a second or two of imports, so a chunk should hold several seconds of work (the embedded
    default's 128x128 working frames take a few hundredths of a second per pair, larger frames
    more); its 39 pairs are one job."""

    @model_validator(mode="after")
    def _knn_graph_fits(self) -> Self:
        if 0 < self.knn_graph < self.min_samples:
            raise ValueError(
                f"knn_graph ({self.knn_graph}) must be 0 or at least min_samples "
                f"({self.min_samples}): the core distances need that many neighbours"
            )
        return self


class LinkConfig(StageConfig):
    """Linking pair clusterings into tracks and lineages."""

    iou_threshold: float = Field(0.25, gt=0.0, le=1.0)
    """Smallest IoU on the shared frame for two instances to continue one track. Chosen on the
    validation frames unless set here (see `adapt`)."""
    parent_dilation: int = Field(2, ge=0)
    """Radius in pixels of the working size by which a new track's first mask is dilated in the
    parent search. Chosen from the object size and on the validation frames unless set here."""
    parent_frames: int = Field(2, ge=1)
    """How many frames back, before a new track's first frame, the parent search looks for the
    mother's last mask (2: the mother may be missed in the frame before her daughters)."""
    parent_iou: float = Field(0.2, ge=0.0, le=1.0)
    """Smallest IoU (a fraction) between a new track's dilated mask in one of its first two
    frames and a candidate mother's last mask. Daughters of an exact segmentation score about
    0.3 to 0.5 (each holds half the mother's area), cells entering next to a living cell about
    0.1 or less."""
    min_track_length: int = Field(2, ge=1)
    """Tracks without a parent that are shorter than this many frames are removed."""
    min_daughter_length: int = Field(3, ge=1)
    """A division one of whose daughters ends within fewer than this many frames (without dividing
    herself, away from the border and the last frame) is undone: she was a piece split off the
    mother for a frame or two; she joins the sister she touches (else she stays a track without
    parent) and the mother continues as the sister (cosinetrack.algorithms.divisions). 1 keeps every
    division. 3 was chosen on development sequences (05 and 06 of four simulated datasets, never
    scored): BC(1) rose on seven of eight (e.g. 0.26 -> 0.56), DET and TRA moved by -0.001 to
    +0.003."""
    outlines: Literal["embedding", "labels"] = "embedding"
    """How result masks are enlarged from the working size to the original frames: `embedding`
    follows the network's cosine to the background direction, interpolated between working pixels
    (outlines finer than the working grid); `labels` resizes each mask alone. Chosen on the
    validation frames unless set here (see `adapt`); the baseline, which has no embedding,
    always resizes its masks."""
    outline_threshold: float | None = Field(None, gt=-1.0, lt=1.0)
    """With outlines `embedding`: an enlarged pixel is foreground where the interpolated cosine
    to the background is at most this; unset, the clustering's `background_threshold`. Chosen on
    the validation frames unless set here (see `adapt`)."""


class BaselineConfig(StageConfig):
    """Classical baseline: threshold + distance-transform watershed, greedy IoU linking.

    The defaults were tuned once, by `benchmarks/tune_baseline.py`, on sequence 01 of the default
    simulated dataset (SimConfig(): 256x256, 40 frames, radius 12, density 0.25); sequence 02 was
    never used to choose them. Retune when the simulation defaults change.
    """

    sigma: float = Field(0.5, ge=0.0, le=10.0)
    """Gaussian smoothing before thresholding, in pixels of the original frames (0 disables it)."""
    threshold: Literal["otsu", "li", "triangle", "local"] = "local"
    """Thresholding method from scikit-image; 'local' compares each pixel with its neighbourhood."""
    block_size: int = Field(121, ge=3, le=4095)
    """Side in pixels of the original frames (odd) of the neighbourhood of the 'local' threshold;
    unused otherwise. Scaled with the measured object size unless set here (see `adapt`)."""
    offset: float = Field(0.025, ge=-1.0, le=1.0)
    """Offset of the 'local' threshold above the neighbourhood mean, as a fraction of the frame's
    intensity range (1st to 99th percentile); unused otherwise."""
    min_size: int = Field(8, ge=0, le=100000)
    """Foreground components smaller than this many pixels of the original frames are removed
    before the watershed. Scaled with the measured object size unless set here (see `adapt`)."""
    seeds: Literal["peaks", "h_maxima"] = "peaks"
    """Watershed seeds: local maxima at least `min_distance` apart, or maxima at least `h` high."""
    min_distance: int = Field(6, ge=1, le=1000)
    """Smallest distance in pixels of the original frames between two 'peaks' seeds (peaks of the
    distance transform). Scaled with the measured object size unless set here (see `adapt`)."""
    h: float = Field(1.0, gt=0.0, le=100.0)
    """Smallest height in pixels of the original frames of an 'h_maxima' seed above the saddle
    to a higher neighbour."""
    iou_threshold: float = Field(0.25, gt=0.0, le=1.0)
    """Smallest IoU between consecutive frames to continue a track (the rest of the linking, the
    division search and short-track removal, follows the `link` section)."""

    @field_validator("block_size")
    @classmethod
    def _odd_block(cls, value: int) -> int:
        """Refuse an even block size here, not deep inside a run, as threshold_local needs odd."""
        if value % 2 == 0:
            raise ValueError(f"block_size must be odd (for threshold_local), got {value}")
        return value


ALL_METRICS = (
    "SEG",
    "DET",
    "TRA",
    "LNK",
    "BC",
    "CT",
    "TF",
    "CCA",
    "CHOTA",
    "HOTA",
    "MOTA",
    "IDF1",
)


class EvaluateConfig(StageConfig):
    """Scoring with the Cell Tracking Challenge metrics (py-ctcmetrics)."""

    metrics: list[Literal[ALL_METRICS]] = list(ALL_METRICS)  # type: ignore[valid-type]
    """Metrics to compute; BC gives BC(0) to BC(3)."""


class AdaptConfig(StageConfig):
    """Settings chosen per dataset: pixel sizes from the training GT, the rest on validation frames.

    Every value a user sets in the config wins over a chosen one; `model/settings.yaml` records
    what was measured and chosen and where each value came from.
    """

    measure: bool = True
    """Measure the objects of the training ground truth and derive the working scale and every
    pixel-valued setting (crop, neighbour radius, clustering sizes, coordinate factor, parent
    dilation, the baseline's sizes) from their size; false keeps the schema's defaults."""
    object_diameter: float | None = Field(None, gt=0.0, le=2000.0)
    """Object diameter in pixels of the original frames; empty: measured as the median equivalent
    diameter of the SEG masks (else of the silver-truth masks) of the training sequences, or,
    where they have TRA markers alone, estimated from their frames (the scale of the strongest
    blob responses, `cosinetrack.algorithms.object_size`). Set, the objects are sized as round
    ones of this diameter, whatever their measured elongation; a dataset that names a `model`
    folder is then segmented at the scale and pixel sizes that bring cells of this diameter to
    the model's working size (rule rescale)."""
    target_diameter: float = Field(10.38, ge=2.0, le=200.0)
    """Object diameter in pixels of the working size that the default network and settings are
    built for (the embedded default's nuclei at scale 0.5); the scale brings objects to it."""
    elongation_threshold: float = Field(2.0, ge=1.0, le=100.0)
    """Objects whose median elongation (length / width, the major and minor axes of each mask) is
    at least this are sized as rods: the scale brings their median width to `target_diameter`,
    so touching cells stay several working pixels apart; the neighbour radius, the coordinate
    factor, the marker margin and the baseline's block size follow their length, the parent
    dilation and the baseline's seed distance their width, areas and the crop their area (a crop
    holds at least three lengths). Below it (round objects, e.g. nuclei at about 1.3) everything
    follows the equivalent diameter."""
    max_scale: float = Field(2.0, ge=0.1, le=4.0)
    """Largest working scale the size measurement may choose (larger scales cost its square in
    compute)."""
    tune: bool = True
    """Choose the checkpoint (`train.candidates`) and the post-processing settings (background
    threshold, min cluster size, IoU threshold, parent dilation) by SEG + TRA from py-ctcmetrics
    on the validation frames; never on the test sequences."""
    validation_fraction: float = Field(0.2, gt=0.0, le=0.5)
    """Without `validation` sequences, this fraction of the last frames of each training sequence
    (at least 2 frames) is held back from training to choose on."""
