import pytest
import yaml
from conftest import REPO
from pydantic import ValidationError

from cosinetrack import cli
from cosinetrack.config.errors import ConfigError, load_workflow_config, short_schema_error
from cosinetrack.config.file import DatasetConfig, WorkflowConfig, json_schema
from cosinetrack.config.sections import LinkConfig, TrainConfig


def test_committed_schema_is_generated_from_the_models() -> None:
    committed = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    assert committed == json_schema(), (
        "run `cosinetrack schema --out workflow/schemas/config.schema.yaml`"
    )


def test_default_config_validates() -> None:
    cfg = cli.load_config(REPO / "config.yaml")
    assert list(cfg.datasets) == ["sim"]
    assert cfg.datasets["sim"].train == ["01"] and cfg.datasets["sim"].test == ["02"]


def test_every_schema_key_is_documented() -> None:
    def walk(node, path):
        if isinstance(node, dict):
            if "properties" in node:
                for key, sub in node["properties"].items():
                    assert "description" in sub, f"{path}.{key} has no description"
                    if key != "datasets":
                        assert (
                            "default" in sub
                            or "$ref" in sub
                            or path.endswith("Config")
                            or key in ("simulate", "path", "model", "segmentation")
                        ), f"{path}.{key} has no default"
            for key, sub in node.items():
                walk(sub, f"{path}.{key}")

    walk(json_schema(), "schema")


def config_error(text: str) -> str:
    """The message a config file (YAML text) is refused with."""
    with pytest.raises(ConfigError) as refused:
        load_workflow_config(yaml.safe_load(text))
    return str(refused.value)


SIM = "datasets:\n  sim:\n    simulate: {}\n"


def test_wrong_type_names_the_key() -> None:
    message = config_error(SIM + "train:\n  iterations: many\n")
    assert message == (
        "train.iterations: 'many' should be a valid integer, unable to parse string as an integer"
    )


def test_unknown_key_names_the_key() -> None:
    message = config_error(SIM + "train:\n  iteratons: 3\n")
    assert message == "train.iteratons: unknown key; did you mean 'iterations'?"


def test_misspelt_key_gets_the_nearest_name_where_it_sits() -> None:
    text = (
        'datasets:\n  sim:\n    simulate: {}\n    trian: ["01"]\ncluster:\n  min_cluster_sise: 5\n'
    )
    assert config_error(text).splitlines() == [
        "datasets.sim.trian: unknown key; did you mean 'train'?",
        "cluster.min_cluster_sise: unknown key; did you mean 'min_cluster_size'?",
    ]
    assert config_error(SIM + "clustr: {}\n") == "clustr: unknown key; did you mean 'cluster'?"
    hieght = "datasets:\n  sim:\n    simulate: {hieght: 64}\n"
    assert (
        config_error(hieght) == "datasets.sim.simulate.hieght: unknown key; did you mean 'height'?"
    )


def test_unknown_key_without_a_near_name_lists_the_valid_ones() -> None:
    message = config_error(SIM + "link:\n  zzz: 1\n")
    assert message.startswith("link.zzz: unknown key; valid keys here: ")
    assert message.endswith(", ".join(LinkConfig.model_fields))


def test_unquoted_sequence_names_are_told_to_be_quoted() -> None:
    message = config_error("datasets:\n  sim:\n    simulate: {}\n    train: [01]\n")
    assert message == (
        'datasets.sim.train: 1 is a number; write sequence names in quotes: train: ["01"]'
    )
    message = config_error(SIM.replace("{}", "{sequences: 3}") + '    test: ["02", 03]\n')
    assert message == (
        'datasets.sim.test: 3 is a number; write sequence names in quotes: test: ["02", "03"]'
    )
    message = config_error(SIM + "    validation: 03\n")
    assert message == (
        "datasets.sim.validation: 3 is not a list; write sequence names in quotes: "
        'validation: ["03"]'
    )


def test_one_line_per_mistake_without_pydantic_details() -> None:
    text = SIM + "train:\n  iterations: many\n  crop: big\ninfer:\n  device: gpu\n"
    lines = config_error(text).splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "train.iterations",
        "train.crop",
        "infer.device",
    ]
    assert "errors.pydantic.dev" not in "\n".join(lines)


def test_test_sequences_may_not_be_train_sequences() -> None:
    text = 'datasets:\n  sim:\n    simulate: {}\n    train: ["01"]\n    test: ["01", "02"]\n'
    assert config_error(text).startswith(
        "datasets.sim.test: sequences ['01'] are both `train` and `test` sequences;"
    )
    assert config_error(SIM + '    train: ["02"]\n').startswith("datasets.sim.test: ")


def test_a_trained_model_tests_on_any_sequence() -> None:
    """A dataset with a trained `model` trains nothing, so its `train` list does not matter."""
    text = (
        'datasets:\n  sim:\n    simulate: {}\n    model: /m\n    train: ["01"]\n    test: ["01"]\n'
    )
    assert load_workflow_config(yaml.safe_load(text)).datasets["sim"].test == ["01"]


def test_schema_refusals_are_told_in_one_line() -> None:
    """Values the models take but the schema refuses: text for a number, null for an option."""
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    def refused(text: str) -> str:
        with pytest.raises(WorkflowError) as error:
            validate(yaml.safe_load(text), schema=str(REPO / "workflow/schemas/config.schema.yaml"))
        short = short_schema_error(error.value)
        assert isinstance(short, ConfigError)
        return str(short)

    assert refused(SIM + "train:\n  learning_rate: 1e-3\n") == (
        "train.learning_rate: '1e-3' is not of type 'number'; YAML reads 1e-3 as text, "
        "a number needs a dot and a signed exponent: 1.0e-3"
    )
    fixed = refused(SIM + "train:\n  weight_decay: 1e4\n").rsplit(": ", 1)[1]
    assert fixed == "1.0e+4" and yaml.safe_load(fixed) == 1e4
    assert refused(SIM + "train:\n  iterations: '5'\n").endswith("; write 5 without quotes")
    assert refused(SIM + "infer:\n  window: null\n") == (
        "infer.window: None is not of type 'integer'; leave the key out for its default"
    )
    other = WorkflowError("not about the schema")
    assert short_schema_error(other) is other


def test_command_line_names_the_file_and_the_key(tmp_path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(SIM + "cluster:\n  min_cluster_sise: 5\n")
    with pytest.raises(SystemExit, match=r"config\.yaml: cluster\.min_cluster_sise: unknown key"):
        cli.load_config(path)


def test_dataset_needs_exactly_one_source(tmp_path) -> None:
    with pytest.raises(ValidationError, match="exactly one of `simulate` or `path`"):
        DatasetConfig.model_validate({"simulate": {}, "path": str(tmp_path)})
    with pytest.raises(ValidationError, match="exactly one of `simulate` or `path`"):
        DatasetConfig.model_validate({})


def test_test_sequence_must_be_simulated() -> None:
    with pytest.raises(ValidationError, match=r"sequences \['03'\] are not simulated"):
        DatasetConfig.model_validate({"simulate": {"sequences": 2}, "test": ["03"]})


def test_a_key_of_the_other_kind_of_cell_is_refused_by_name() -> None:
    rods = {"datasets": {"colony": {"simulate": {"cells": "rods", "radius": 6, "rod_width": 9}}}}
    with pytest.raises(
        ConfigError, match=r"^datasets\.colony\.simulate\.radius: shapes nuclei only"
    ):
        load_workflow_config(rods)
    nuclei = {"datasets": {"n": {"simulate": {"radius": 6, "growth_rate": 0.1}}}}
    with pytest.raises(ConfigError, match=r"datasets\.n\.simulate\.growth_rate: shapes rods only"):
        load_workflow_config(nuclei)
    del rods["datasets"]["colony"]["simulate"]["radius"]
    assert load_workflow_config(rods).datasets["colony"].simulate.rod_width == 9


def test_bad_dataset_name_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"datasets\.bad/name"):
        WorkflowConfig.model_validate({"datasets": {"bad/name": {"simulate": {}}}})


def test_neighbour_graph_needs_enough_neighbours() -> None:
    from cosinetrack.config.sections import ClusterConfig

    with pytest.raises(ValidationError, match=r"at least min_samples \(10\)"):
        ClusterConfig(min_samples=10)
    assert ClusterConfig(knn_graph=0, min_samples=10).knn_graph == 0
    reference = yaml.safe_load((REPO / "config/reference.yaml").read_text())
    assert WorkflowConfig.model_validate(reference).cluster.knn_graph == 0


def test_the_removed_backend_key_is_refused_with_what_to_do() -> None:
    message = config_error(SIM + "cluster:\n  backend: hdbscan\n")
    assert message == (
        "cluster.backend: removed; the runtime has one HDBSCAN "
        "(cosinetrack.algorithms.knn_hdbscan): delete this key"
    )
    import jsonschema

    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    with pytest.raises(jsonschema.ValidationError, match=r"\('backend' was unexpected\)"):
        jsonschema.validate(yaml.safe_load(SIM + "cluster:\n  backend: hdbscan\n"), schema)


def test_stage_configs_are_frozen() -> None:
    with pytest.raises(ValidationError):
        TrainConfig().iterations = 3  # type: ignore[misc]


def test_gpu_jobs_follow_the_device(monkeypatch) -> None:
    from pathlib import Path

    from cosinetrack.dag.targets import gpus

    assert gpus("cuda") == 1 and gpus("cpu") == 0
    monkeypatch.setattr(Path, "exists", lambda path: str(path) == "/dev/nvidiactl")
    assert gpus("auto") == 1  # an NVIDIA driver: one GPU
    monkeypatch.setattr(Path, "exists", lambda path: False)
    assert gpus("auto") == 0 and gpus("cuda") == 1


def test_shipped_config_holds_only_datasets() -> None:
    """Every shipped value is a schema default, so a config naming a dataset runs as the default."""
    shipped = yaml.safe_load((REPO / "config.yaml").read_text())
    assert list(shipped) == ["datasets"]
    own = WorkflowConfig.model_validate({"datasets": {"mine": {"path": "/data"}}})
    default = WorkflowConfig.model_validate(shipped)
    assert own.model_dump(exclude={"datasets"}) == default.model_dump(exclude={"datasets"})


def test_every_pixel_valued_setting_names_its_unit() -> None:
    from cosinetrack.stages.adapt import AREAS, INVERSE_LENGTHS, LENGTHS

    for table in (LENGTHS, AREAS, INVERSE_LENGTHS, {"preprocess": ("sigma",), "train": ("crop",)}):
        for section, keys in table.items():
            model = type(WorkflowConfig.model_fields[section].default)
            for key in keys:
                text = model.model_fields[key].description
                assert "pixels of the" in text or "per pixel of" in text, f"{section}.{key}"
