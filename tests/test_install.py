"""`pip install .` (not editable) gives a working package and command line, away from the checkout.

The package is built from a copy of what a wheel is made of (pyproject.toml, README.md, LICENSE,
src/), offline and without its dependencies (the test venv has them), into a folder that is put
on PYTHONPATH alone; every command runs in a folder outside the checkout.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import REPO, TINY


def run(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_a_non_editable_install_runs_without_the_checkout(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, project / name)
    junk = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(REPO / "src", project / "src", ignore=junk)
    # Installed inside a git repository that ignores it, as a venv inside a checkout would be:
    # provenance must not take that repository's commit for the package's.
    repository = tmp_path / "repository"
    repository.mkdir()
    (repository / ".gitignore").write_text("site/\n")
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org"]
    for command in (["init", "-q"], ["add", ".gitignore"], ["commit", "-q", "-m", "ignore"]):
        subprocess.run([*git, *command], cwd=repository, check=True, capture_output=True)
    site = repository / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation"]
    pip += ["--no-index", "--no-cache-dir", "--disable-pip-version-check", "--quiet"]
    built = subprocess.run(
        [*pip, "--target", str(site), str(project)], capture_output=True, text=True, timeout=300
    )
    assert built.returncode == 0, built.stderr

    # Every file of the package is installed: modules and any data it reads at run time.
    source = REPO / "src" / "cosinetrack"
    wanted = {p.relative_to(source) for p in source.rglob("*") if p.is_file()}
    wanted = {p for p in wanted if "__pycache__" not in p.parts}
    installed = {p.relative_to(site / "cosinetrack") for p in (site / "cosinetrack").rglob("*")}
    assert wanted <= installed
    (info,) = site.glob("cosinetrack-*.dist-info")
    assert (info / "licenses" / "LICENSE").read_text() == (REPO / "LICENSE").read_text()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    python = sys.executable
    probe = run(
        python,
        "-c",
        "import cosinetrack, cosinetrack.cli\n"
        "from cosinetrack.dag.provenance import code_revision\n"
        "print(cosinetrack.__file__, code_revision(), cosinetrack.cli.checkout_snakefile())",
        cwd=elsewhere,
        env=env,
    )
    assert probe.returncode == 0, probe.stderr
    location, revision = probe.stdout.split(" ", 1)
    assert Path(location).is_relative_to(site)
    assert revision.split() == ["unknown", "(not", "a", "git", "checkout)", "None"]

    usage = run(python, "-m", "cosinetrack.cli", "--help", cwd=elsewhere, env=env)
    assert usage.returncode == 0 and "simulate" in usage.stdout, usage.stderr
    # The console script that pip writes.
    schema = run(str(site / "bin" / "cosinetrack"), "schema", cwd=elsewhere, env=env)
    assert schema.returncode == 0, schema.stderr
    assert schema.stdout == (REPO / "workflow/schemas/config.schema.yaml").read_text()
    config = elsewhere / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    simulate = ["simulate", "--config", str(config), "--dataset", "tiny", "--out", "data"]
    simulated = run(python, "-m", "cosinetrack.cli", *simulate, cwd=elsewhere, env=env)
    assert simulated.returncode == 0, simulated.stderr
    assert (elsewhere / "data" / "01" / "t000.tif").is_file()
    assert (elsewhere / "data" / "02_GT" / "TRA" / "man_track.txt").is_file()

    # The workflow belongs to a checkout: without one, `repeats` says what to give.
    repeats = ["repeats", "--seeds", "1", "--out", "repeats"]
    refused = run(python, "-m", "cosinetrack.cli", *repeats, cwd=elsewhere, env=env)
    assert refused.returncode != 0 and "--snakefile" in refused.stderr
    assert not (elsewhere / "repeats").exists()
