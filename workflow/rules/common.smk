import copy
import os
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from cosinetrack.dag import paths
from cosinetrack.dag import targets as wf
from cosinetrack.config.errors import load_workflow_config, short_schema_error

# The user's own keys, before validation fills in the defaults: they win over adapted values.
USER_CONFIG = copy.deepcopy(config)
# The models first: a mistake is told in one line naming its key, not with the whole schema.
CFG = load_workflow_config(USER_CONFIG)
try:
    # Fills in the schema's defaults; refuses what the models let through (text for a number).
    validate(config, schema="../schemas/config.schema.yaml")
except WorkflowError as error:
    raise short_schema_error(error) from None
EXPLICIT = wf.explicit(CFG)
wf.check_sources(CFG)

# Rule scripts import the package from src/, also inside the per-rule conda envs (--sdm conda),
# which hold its dependencies but not the package itself; envvars passes it on to cluster jobs.
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(Path(workflow.basedir) / "src"), os.environ.get("PYTHONPATH")])
)


envvars:
    "PYTHONPATH",


wildcard_constraints:
    dataset=r"[A-Za-z0-9][A-Za-z0-9_.+-]*",
    seq=r"[0-9]{2,3}",
    chunk=r"[0-9]+",
    method="|".join(paths.ALL_METHODS),


def all_targets():
    """Every final output of the workflow."""
    return wf.targets(CFG)


def simulated_datasets():
    """A regex matching only the datasets the workflow simulates."""
    return "|".join(wf.simulated(CFG)) or "^$"


def simulate_params(wildcards):
    """Simulation settings of a dataset."""
    return CFG.datasets[wildcards.dataset].simulate.model_dump()


def dataset_root(wildcards):
    """The CTC folder of a dataset (simulated or the user's), a param: inputs are its files."""
    return str(wf.dataset_root(wildcards.dataset, CFG.datasets[wildcards.dataset]))


def ground_truth_choice(wildcards):
    """The masks that train a dataset: gold SEG, silver ST, or both."""
    return CFG.datasets[wildcards.dataset].ground_truth


def dataset_of(wildcards):
    """A job's dataset: its name and its config."""
    return wildcards.dataset, CFG.datasets[wildcards.dataset]


# A rule's inputs from a dataset's folder: the files it reads (see cosinetrack.dag.targets).
def preprocess_inputs(wildcards):
    """The frames, ground and silver truth of the sequence preprocess reads."""
    return wf.preprocess_inputs(*dataset_of(wildcards), wildcards.seq)


def adapt_inputs(wildcards):
    """The frames and truth of the training sequences adapt measures."""
    return wf.adapt_inputs(*dataset_of(wildcards))


def rescale_inputs(wildcards):
    """The test frames rescale estimates the cells' diameter on, when it is not given."""
    return wf.rescale_inputs(*dataset_of(wildcards), CFG)


def test_sequences(wildcards):
    """A dataset's test sequences."""
    return CFG.datasets[wildcards.dataset].test


def select_inputs(wildcards):
    """The ground truth select scores its choices against."""
    return wf.select_inputs(*dataset_of(wildcards))


def evaluate_inputs(wildcards):
    """The ground truth of the test sequence evaluate scores."""
    return wf.evaluate_inputs(*dataset_of(wildcards), wildcards.seq)


def frame_inputs(wildcards):
    """The frames of the sequence baseline segments and figures draw."""
    return wf.frame_inputs(*dataset_of(wildcards), wildcards.seq)


def segmentation_inputs(wildcards):
    """The label images of the sequence's own masks link_masks reads."""
    return wf.segmentation_inputs(*dataset_of(wildcards), wildcards.seq)


def segmentation_folder(wildcards):
    """The folder of the sequence's own masks (`segmentation:` filled in)."""
    return str(CFG.datasets[wildcards.dataset].segmentation_folder(wildcards.seq))


def raw_sequence(wildcards):
    """The folder of the sequence's raw frames; empty for own masks given without a `path`."""
    return wf.raw_sequence(*dataset_of(wildcards), wildcards.seq) or ""


def images_adapt_inputs(wildcards):
    """The training images and masks (and validation images) images_adapt reads."""
    return wf.images_adapt_inputs(*dataset_of(wildcards))


def images_train_inputs(wildcards):
    """The training images and masks images_train reads."""
    return wf.images_train_inputs(*dataset_of(wildcards))


def images_select_inputs(wildcards):
    """The images and masks images_select chooses on."""
    return wf.images_select_inputs(*dataset_of(wildcards))


def split_inputs(wildcards):
    """The images of the split images_segment and images_baseline segment."""
    return wf.split_inputs(*dataset_of(wildcards), wildcards.seq)


def scored_split_inputs(wildcards):
    """The images and masks of the split images_evaluate scores."""
    return wf.scored_split_inputs(*dataset_of(wildcards), wildcards.seq)


def train_stores(wildcards):
    """Preprocessed stores of a dataset's training sequences."""
    dataset = CFG.datasets[wildcards.dataset]
    return wf.prep_stores(wildcards.dataset, dataset.train)


def train_sequences(wildcards):
    """A dataset's training sequences."""
    return CFG.datasets[wildcards.dataset].train


def validation_sequences(wildcards):
    """A dataset's validation sequences (empty: frames held back from the training ones)."""
    return CFG.datasets[wildcards.dataset].validation


def validation_stores(wildcards):
    """Preprocessed stores the validation frames come from."""
    return wf.validation_stores(wildcards.dataset, CFG.datasets[wildcards.dataset])


def settings_file(wildcards):
    """The settings chosen for a dataset's model (measured object size, scale, pixel sizes)."""
    dataset = CFG.datasets[wildcards.dataset]
    return wf.settings_path(wildcards.dataset, dataset, CFG, paths.SETTINGS_FILE)


def postprocess_file(wildcards):
    """The clustering and linking settings chosen on the validation frames for a model."""
    dataset = CFG.datasets[wildcards.dataset]
    return wf.settings_path(wildcards.dataset, dataset, CFG, paths.POSTPROCESS_FILE)


def named_model_file(file):
    """A file of the model folder a dataset names, for rescale (an input function)."""

    def named(wildcards):
        dataset = CFG.datasets[wildcards.dataset]
        return wf.model_path(wildcards.dataset, dataset, file)

    return named


def model_file(wildcards):
    """The model a dataset is segmented with: trained by the workflow or given in the config."""
    return wf.model_file(wildcards.dataset, CFG.datasets[wildcards.dataset])


def cluster_chunk_stores(wildcards):
    """The clustering chunks of a sequence, one job each."""
    dataset = CFG.datasets[wildcards.dataset]
    return wf.chunk_stores(
        wildcards.dataset, dataset, wildcards.seq, CFG.cluster.chunk_pairs
    )


def result_folder(wildcards):
    """The CTC result folder of a method on a sequence."""
    return wf.result_folder(wildcards.dataset, wildcards.method, wildcards.seq)


def metric_labels(wildcards):
    """What a metric table's rows are about."""
    return {
        "dataset": wildcards.dataset,
        "sequence": wildcards.seq,
        "method": wildcards.method,
    }


def metric_tables():
    """Metric tables of every scored sequence and method."""
    return wf.metric_tables(CFG)


def benchmark_files():
    """Benchmark files of every job that makes the results."""
    return wf.benchmark_files(CFG)
