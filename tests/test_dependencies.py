"""Every third-party package the package imports is declared, locked and recorded in provenance."""

import ast
import re
import sys
import tomllib
from importlib import metadata

from conftest import REPO
from test_envs import canonical, lock

from cosinetrack.dag.provenance import provenance

SOURCE = REPO / "src" / "cosinetrack"


def imported_modules() -> dict[str, set[str]]:
    """Top-level names of every absolute import under src/cosinetrack (lazy ones too), by file."""
    found: dict[str, set[str]] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(path.name)
    return found


def third_party_distributions() -> dict[str, str]:
    """Map each imported third-party module to its (canonical) distribution name."""
    owners = metadata.packages_distributions()
    modules = {
        name
        for name in imported_modules()
        if name not in sys.stdlib_module_names and name != "cosinetrack"
    }
    missing = sorted(name for name in modules if name not in owners)
    assert not missing, f"imported but not installed: {missing}"
    return {name: canonical(owners[name][0]) for name in sorted(modules)}


def names(requirements: list[str]) -> set[str]:
    """Canonical names of requirement lines."""
    return {canonical(re.match(r"[A-Za-z0-9_.\-]+", r).group()) for r in requirements}


def declared() -> set[str]:
    """Canonical names of the dependencies pyproject.toml declares."""
    return names(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"])


def test_the_walk_finds_lazy_and_nested_imports() -> None:
    modules = imported_modules()
    assert {"ctc_metrics", "numba", "skimage", "geff", "torch", "PIL"} <= modules.keys()
    assert "errors.py" in modules["jsonschema"]  # imported inside a function
    distributions = third_party_distributions()
    assert distributions["skimage"] == "scikit-image" and distributions["PIL"] == "pillow"
    assert distributions["ctc_metrics"] == "py-ctcmetrics" and distributions["yaml"] == "pyyaml"


def test_every_imported_package_is_declared_in_pyproject() -> None:
    undeclared = {m: d for m, d in third_party_distributions().items() if d not in declared()}
    assert undeclared == {}


def test_the_hdbscan_references_are_a_dev_extra_the_package_never_imports() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    oracles = names(project["optional-dependencies"]["dev"])
    assert oracles == {"fast-hdbscan", "hdbscan", "scikit-learn"}
    assert not oracles & declared()
    assert not oracles & set(third_party_distributions().values())
    assert oracles <= lock().keys()  # the tests have them


def test_every_imported_package_is_pinned_in_the_lock() -> None:
    pins = lock()
    unpinned = {m: d for m, d in third_party_distributions().items() if d not in pins}
    assert unpinned == {}


def test_provenance_records_every_library_behind_the_masks() -> None:
    packages = provenance()["packages"]
    for name in (
        "numba",
        "scikit-learn",
        "geff",
        "scikit-image",
        "scipy",
        "torch",
        "zarr",
    ):
        assert packages[name] == metadata.version(name), name
    assert packages["geff"] == lock()["geff"] and packages["numba"] == lock()["numba"]
