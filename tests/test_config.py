import pytest
import yaml
from conftest import REPO
from pydantic import ValidationError

from cosinetrack import cli
from cosinetrack.config import TrainConfig
from cosinetrack.configfile import DatasetConfig, WorkflowConfig, json_schema


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
                            or key in ("simulate", "path", "model")
                        ), f"{path}.{key} has no default"
            for key, sub in node.items():
                walk(sub, f"{path}.{key}")

    walk(json_schema(), "schema")


def test_wrong_type_names_the_key() -> None:
    with pytest.raises(ValidationError, match=r"train\.iterations"):
        WorkflowConfig.model_validate(
            {"datasets": {"d": {"simulate": {}}}, "train": {"iterations": "many"}}
        )


def test_unknown_key_names_the_key() -> None:
    with pytest.raises(
        ValidationError, match=r"train\.iteratons\n\s+Extra inputs are not permitted"
    ):
        WorkflowConfig.model_validate(
            {"datasets": {"d": {"simulate": {}}}, "train": {"iteratons": 3}}
        )


def test_dataset_needs_exactly_one_source(tmp_path) -> None:
    with pytest.raises(ValidationError, match="exactly one of `simulate` or `path`"):
        DatasetConfig.model_validate({"simulate": {}, "path": str(tmp_path)})
    with pytest.raises(ValidationError, match="exactly one of `simulate` or `path`"):
        DatasetConfig.model_validate({})


def test_test_sequence_must_be_simulated() -> None:
    with pytest.raises(ValidationError, match=r"sequences \['03'\] are not simulated"):
        DatasetConfig.model_validate({"simulate": {"sequences": 2}, "test": ["03"]})


def test_bad_dataset_name_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"datasets\.bad/name"):
        WorkflowConfig.model_validate({"datasets": {"bad/name": {"simulate": {}}}})


def test_neighbour_graph_needs_a_graph_backend_and_enough_neighbours() -> None:
    from cosinetrack.config import ClusterConfig

    with pytest.raises(ValidationError, match=r"knn_graph \(8\) needs backend cosinetrack or"):
        ClusterConfig(backend="hdbscan")
    assert ClusterConfig(backend="fast_hdbscan").knn_graph == 8
    with pytest.raises(ValidationError, match=r"at least min_samples \(10\)"):
        ClusterConfig(min_samples=10)
    assert ClusterConfig(backend="hdbscan", knn_graph=0).knn_graph == 0
    reference = yaml.safe_load((REPO / "config/reference.yaml").read_text())
    assert WorkflowConfig.model_validate(reference).cluster.knn_graph == 0


def test_stage_configs_are_frozen() -> None:
    with pytest.raises(ValidationError):
        TrainConfig().iterations = 3  # type: ignore[misc]


def test_gpu_jobs_follow_the_device(monkeypatch) -> None:
    from pathlib import Path

    from cosinetrack.workflow import gpus

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
    from cosinetrack.adapt import AREAS, INVERSE_LENGTHS, LENGTHS

    for table in (LENGTHS, AREAS, INVERSE_LENGTHS, {"preprocess": ("sigma",), "train": ("crop",)}):
        for section, keys in table.items():
            model = type(WorkflowConfig.model_fields[section].default)
            for key in keys:
                text = model.model_fields[key].description
                assert "pixels of the" in text or "per pixel of" in text, f"{section}.{key}"
