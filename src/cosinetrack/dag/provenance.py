"""Provenance: which code, packages and settings made a result, so a rerun can be matched to it."""

from __future__ import annotations

import datetime
import hashlib
import json
import platform
import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

# Every library that shapes the masks, tracks, scores or exports (scipy's kd-tree and numba under
# the HDBSCAN, scikit-learn under py-ctcmetrics' scores, geff writes the tracks graph).
PACKAGES = (
    "cosinetrack",
    "torch",
    "numpy",
    "scipy",
    "scikit-image",
    "scikit-learn",
    "zarr",
    "tifffile",
    "numba",
    "py-ctcmetrics",
    "pandas",
    "geff",
    "snakemake",
)


def package_versions() -> dict[str, str]:
    """Return the installed version of each package the results depend on."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@cache
def code_revision() -> str:
    """Return the git commit of the package source, with '-dirty' for uncommitted changes.

    Only for a package that git tracks (a checkout's src/): a copy installed from a wheel may sit
    inside some repository (a venv in a checkout) whose commit says nothing of the copy.
    """
    source = Path(__file__).resolve().parent
    try:
        subprocess.run(
            ["git", "ls-files", "--error-unmatch", "--", Path(__file__).name],
            cwd=source,
            capture_output=True,
            check=True,
        )
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=source,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit + ("-dirty" if dirty else "")


def config_hash(config: Any) -> str:
    """Return a short, order-independent hash of a JSON-serialisable configuration."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def provenance(config: Any | None = None) -> dict[str, Any]:
    """Return what produced a result: code revision, package versions, platform, date and config."""
    record: dict[str, Any] = {
        "code_revision": code_revision(),
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    if config is not None:
        record["config"] = config
        record["config_hash"] = config_hash(config)
    return record
