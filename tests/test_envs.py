"""conda envs cannot be built here (no conda channels): their pins are checked against the lock,
and each rule's env against what its script imports."""

import ast
import re
import sys
from dataclasses import dataclass
from functools import cache
from importlib import metadata
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


# Each rule's conda env holds what its script imports. Snakemake's own parser reads the Snakefile
# and the files it includes (no config is loaded, nothing runs); the script's import closure is
# walked on the source (`import` statements anywhere in a module, those inside functions too, as
# they run when the function does; not those under `if TYPE_CHECKING:`), through every module of
# the package it reaches and the packages above them (their `__init__` runs first).

PACKAGE = "cosinetrack"


@dataclass(frozen=True)
class Rule:
    name: str
    snakefile: Path
    script: Path | None
    conda: Path | None


def workflow_call(node: ast.AST) -> str:
    """`rule` for `workflow.rule(...)`, `run` for `workflow.run`, "" for anything else."""
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
        return target.attr if target.value.id == "workflow" else ""
    return ""


def literal_path(call: ast.expr, rule: str, what: str, base: Path) -> Path:
    """The one string a `script:` or `conda:` keyword gives, relative to the rule's file."""
    assert isinstance(call, ast.Call) and len(call.args) == 1, f"rule {rule}: odd {what}"
    value = call.args[0]
    assert isinstance(value, ast.Constant) and isinstance(value.value, str), (
        f"rule {rule}: {what} is not a plain string ({ast.unparse(value)}); "
        "this test cannot follow it"
    )
    return (base / value.value).resolve()


def workflow_rules(snakefile: Path) -> list[Rule]:
    """Every rule of a Snakefile and the files it includes, with its script and conda env."""
    from types import SimpleNamespace

    from snakemake.parser import parse
    from snakemake.sourcecache import LocalSourceFile

    sources = SimpleNamespace(open=lambda f: open(f.get_path_or_uri(secret_free=True)))
    code, count = parse(LocalSourceFile(str(snakefile)), SimpleNamespace(sourcecache=sources), {})
    rules = []
    for node in ast.walk(ast.parse(code, str(snakefile))):
        if isinstance(node, ast.Call) and workflow_call(node) == "include":
            rules += workflow_rules(literal_path(node, "include", "include", snakefile.parent))
        assert workflow_call(node) not in ("module", "userule"), (
            f"{snakefile}: this test does not follow `module` or `use rule`"
        )
        if not isinstance(node, ast.FunctionDef):
            continue
        decorators = {workflow_call(d): d for d in node.decorator_list}
        if "rule" not in decorators:
            continue
        name = next(k.value.value for k in decorators["rule"].keywords if k.arg == "name")
        for unsupported in ("notebook", "wrapper", "cwl", "template_engine"):
            assert unsupported not in decorators, f"rule {name}: {unsupported} is not followed"
        script, conda = decorators.get("script"), decorators.get("conda")
        base = snakefile.parent
        rules.append(
            Rule(
                name,
                snakefile,
                literal_path(script, name, "script", base) if script else None,
                literal_path(conda, name, "conda", base) if conda else None,
            )
        )
    assert len([r for r in rules if r.snakefile == snakefile]) == count, f"{snakefile}: rules lost"
    return rules


def type_checking_only(node: ast.AST) -> set[int]:
    """The nodes under `if TYPE_CHECKING:` (they never run)."""
    skipped = set()
    for branch in ast.walk(node):
        if isinstance(branch, ast.If) and ast.unparse(branch.test).endswith("TYPE_CHECKING"):
            skipped.update(id(inner) for statement in branch.body for inner in ast.walk(statement))
    return skipped


def lazy_attributes(tree: ast.Module) -> ast.FunctionDef | None:
    """A module's `__getattr__` (PEP 562): its imports run only when an attribute is asked for."""
    found = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "__getattr__"]
    return found[0] if found else None


def imported_names(path: Path, module: str | None) -> set[str]:
    """Absolute names a file imports (a `from x import y` gives x and x.y: y may be a module).

    A package's lazy attributes (its `__getattr__`) count as `package.attribute` importing them:
    they are followed only where something imports that attribute.
    """
    tree = ast.parse(path.read_text(), str(path))
    skipped = type_checking_only(tree)
    lazy = lazy_attributes(tree)
    if lazy is not None:
        skipped.update(id(inner) for inner in ast.walk(lazy))
    names = set()
    for node in ast.walk(tree):
        if id(node) not in skipped:
            names.update(statement_imports(node, path, module))
    return names


def statement_imports(node: ast.AST, path: Path, module: str | None) -> set[str]:
    """Absolute names one statement imports (none for a statement that is no import)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    if not isinstance(node, ast.ImportFrom):
        return set()
    base = node.module or ""
    if node.level:
        assert module, f"{path}: relative import outside a package"
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = ".".join(filter(None, [package, node.module]))
    return {base, *(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")}


def lazy_imports(path: Path, module: str) -> dict[str, set[str]]:
    """`package.attribute` -> what asking a package's `__getattr__` for that attribute imports."""
    lazy = lazy_attributes(ast.parse(path.read_text(), str(path)))
    found: dict[str, set[str]] = {}
    for node in ast.walk(lazy) if lazy is not None else []:
        names = statement_imports(node, path, module)
        for alias in getattr(node, "names", []) if names else []:
            found.setdefault(f"{module}.{alias.asname or alias.name}", set()).update(names)
    return found


def module_file(source: Path, module: str) -> Path | None:
    """The file of a module of the package under `source`, None for a name that is no module."""
    base = source.joinpath(*module.split("."))
    return next((p for p in (base / "__init__.py", base.with_suffix(".py")) if p.is_file()), None)


def third_party_imports(script: Path, source: Path = REPO / "src") -> dict[str, set[str]]:
    """Top-level third-party modules that running `script` imports, with the files importing them.

    Follows the package's own modules under `source` (and their parent packages) recursively.
    """
    found: dict[str, set[str]] = {}
    seen: set[str] = set()
    lazy: dict[str, set[str]] = {}  # lazy attributes of the packages reached, not yet asked for
    todo: list[tuple[Path, str | None]] = [(script, None)]
    while todo:
        path, module = todo.pop()
        for name in imported_names(path, module):
            parts = name.split(".")
            if parts[0] == PACKAGE:
                assert module_file(source, parts[0]), f"{PACKAGE} is not under {source}"
                for end in range(1, len(parts) + 1):
                    reached = ".".join(parts[:end])
                    file = module_file(source, reached)
                    if file and reached not in seen:
                        seen.add(reached)
                        todo.append((file, reached))
                        lazy.update(lazy_imports(file, reached))
                for target in lazy.pop(name, set()) - seen:  # a lazy attribute asked for
                    file = module_file(source, target)
                    if file:
                        seen.add(target)
                        todo.append((file, target))
            elif parts[0] not in sys.stdlib_module_names and parts[0] != "__future__":
                found.setdefault(parts[0], set()).add(str(path.relative_to(path.parents[1])))
    return found


def env_pins(env: Path) -> dict[str, str]:
    """The pip pins of a conda env file, by canonical name."""
    spec = yaml.safe_load(env.read_text())
    pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
    return {canonical(r.split("==")[0]): r.split("==")[1] for r in pip}


@cache
def distributions_of_modules() -> dict[str, list[str]]:
    """Top-level module -> the installed distributions that provide it."""
    return metadata.packages_distributions()


def missing_from_env(rule: Rule) -> list[str]:
    """What a rule's script imports that its env does not pin at the locked version."""
    if rule.script is None:
        return []  # a shell command or no command at all: no Python of ours runs
    assert rule.conda is not None, f"rule {rule.name} runs {rule.script.name} but names no env"
    assert rule.script.suffix == ".py", f"rule {rule.name}: {rule.script.name} is not Python"
    assert rule.script.is_file() and rule.conda.is_file(), rule
    owners = distributions_of_modules()
    pins, locked = env_pins(rule.conda), lock()
    missing = []
    for module, files in sorted(third_party_imports(rule.script).items()):
        assert module in owners, f"{module} (imported by {sorted(files)}) is not installed here"
        distributions = [canonical(d) for d in owners[module]]
        why = f"import {module}: {', '.join(sorted(files))}"
        pinned = [d for d in distributions if d in pins]
        if not pinned:
            missing.append(f"{'/'.join(distributions)} ({why})")
        for d in pinned:
            if pins[d] != locked.get(d):
                missing.append(f"{d}=={locked.get(d)}, not =={pins[d]} ({why})")
    return missing


RULES = workflow_rules(REPO / "Snakefile")


def test_the_rules_are_found_with_their_scripts_and_envs() -> None:
    names = {rule.name: rule for rule in RULES}
    assert len(names) == len(RULES) >= 20
    assert {"all", "train", "select", "infer", "images_segment", "figures"} <= names.keys()
    train = names["train"]
    assert train.script == REPO / "workflow/scripts/train.py"
    assert train.conda == REPO / "envs/torch.yaml"
    assert names["all"].script is None and names["all"].conda is None
    # Every script of the workflow belongs to a rule.
    scripts = {rule.script for rule in RULES if rule.script}
    assert scripts == set((REPO / "workflow/scripts").glob("*.py"))


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
def test_each_rule_env_holds_what_its_script_imports(rule: Rule) -> None:
    missing = missing_from_env(rule)
    assert not missing, f"{rule.conda.name} lacks, for rule {rule.name}: " + "; ".join(missing)


def test_the_check_follows_the_package_and_refuses_a_script_without_env(tmp_path: Path) -> None:
    # A package whose imports hide in functions, relative imports and parent packages.
    source = tmp_path / "src"
    (source / PACKAGE / "sub").mkdir(parents=True)
    (source / PACKAGE / "__init__.py").write_text(
        "import yaml\ndef __getattr__(name):\n    from .heavy import run\n    return run\n"
    )
    (source / PACKAGE / "heavy.py").write_text("import torch\ndef run(): pass\n")
    (source / PACKAGE / "sub" / "__init__.py").write_text("")
    (source / PACKAGE / "sub" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nfrom . import b\n"
        "if TYPE_CHECKING:\n    import torch\n"
        "def f():\n    import skimage.measure\n"
    )
    (source / PACKAGE / "sub" / "b.py").write_text("def g():\n    from ..c import h\n")
    (source / PACKAGE / "c.py").write_text("import os\nimport numpy as np\ndef h(): pass\n")
    script = tmp_path / "script.py"
    script.write_text(f"from {PACKAGE}.sub.a import f\n")
    assert set(third_party_imports(script, source)) == {"yaml", "skimage", "numpy"}
    asking = tmp_path / "asking.py"
    asking.write_text(f"from {PACKAGE} import run\n")  # the lazy attribute: its imports run
    assert set(third_party_imports(asking, source)) == {"yaml", "torch"}

    # A shell rule with an env is fine; a script without one is refused.
    env = tmp_path / "env.yaml"
    env.write_text(yaml.safe_dump({"channels": ["nodefaults"], "dependencies": [{"pip": []}]}))
    fine = REPO / "workflow/scripts/train.py"
    (tmp_path / "Snakefile").write_text(
        f'rule shell_in_env:\n    conda:\n        "env.yaml"\n    shell:\n        "true"\n\n'
        f'rule script_alone:\n    script:\n        "{fine}"\n'
    )
    rules = {rule.name: rule for rule in workflow_rules(tmp_path / "Snakefile")}
    assert rules["shell_in_env"].conda == env and rules["shell_in_env"].script is None
    assert missing_from_env(rules["shell_in_env"]) == []
    assert rules["script_alone"].script == fine
    with pytest.raises(AssertionError, match="names no env"):
        missing_from_env(rules["script_alone"])
    # A script whose env lacks its imports is told, with the import that needs the package.
    lacking = Rule("lacking", tmp_path / "Snakefile", fine, env)
    assert any(m.startswith("torch (import torch:") for m in missing_from_env(lacking))
