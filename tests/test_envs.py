"""conda envs cannot be built here (no conda channels): their pins are checked against the lock."""

import re
from pathlib import Path

import pytest
import yaml
from conftest import REPO


def canonical(name: str) -> str:
    """Normalise a package name as pip does (case, '-', '_', '.')."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonical(name)] = version
    return pins


ENVS = sorted((REPO / "envs").glob("*.yaml"))


def test_there_is_a_cpu_and_a_torch_env() -> None:
    assert {p.name for p in ENVS} == {"cpu.yaml", "torch.yaml"}


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.name)
def test_env_pins_agree_with_requirements(env: Path) -> None:
    spec = yaml.safe_load(env.read_text())
    assert spec["channels"][-1] == "nodefaults"
    pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
    pins = lock()
    assert pip, f"{env.name} pins nothing"
    for requirement in pip:
        name, version = requirement.split("==")
        assert canonical(name) in pins, f"{env.name}: {name} is not in requirements.txt"
        assert pins[canonical(name)] == version, f"{env.name}: {name}=={version} != lock"


def test_every_requirement_is_pinned_exactly() -> None:
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[A-Za-z0-9_.+\-]+", line), line


def test_the_lock_satisfies_every_declared_range_and_torch_is_what_is_installed() -> None:
    import tomllib
    from importlib import metadata

    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["dev"]
    pins = lock()
    for line in declared:
        requirement = Requirement(line)
        version = pins[canonical(requirement.name)]
        assert requirement.specifier.contains(version), f"lock {requirement.name}=={version}"
    # The installed torch is the locked release (a local tag such as +cpu aside).
    assert metadata.version("torch").split("+")[0] == pins["torch"]
