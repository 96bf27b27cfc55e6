"""Settings files of a model folder: `settings.yaml` (chosen by adapt) and `postprocess.yaml`.

Every stage reads its section from them, so this module is light (YAML and pydantic): a rule
script takes its configuration from here without importing what adapt measures with.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from cosinetrack.config.sections import StageConfig
from cosinetrack.formats.atomic import atomic_file

Stage = TypeVar("Stage", bound=StageConfig)


def write_yaml(path: Path, record: dict[str, Any]) -> None:
    """Write a YAML record under a temporary name, then rename it (no torn file on a crash)."""
    with atomic_file(path) as partial:
        partial.write_text(yaml.safe_dump(record, sort_keys=False))


def read_settings(path: Path) -> dict[str, Any]:
    """Read a settings record (settings.yaml or postprocess.yaml of a model folder)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: settings not found; a model folder trained before adaptive settings lacks "
            f"it, so retrain, or write the file with the sections the model was trained with"
        )
    return yaml.safe_load(path.read_text()) or {}


def stage_config(
    cls: type[Stage],
    section: str,
    params: dict[str, Any],
    settings: Iterable[Path],
    explicit: dict[str, dict[str, Any]],
) -> Stage:
    """A stage's config: the workflow's, then each settings file's section, then the user's keys."""
    values = dict(params)
    for path in settings:
        values.update(read_settings(path).get(section, {}))
    values.update(explicit.get(section, {}))
    return cls(**values)


def training_stops(settings: Path, sequences: list[str]) -> list[int | None]:
    """The first held-back frame of each training sequence (None: train on all its frames)."""
    held_back = read_settings(settings).get("validation", {}).get("held_back", {})
    return [held_back[s][0] if s in held_back else None for s in sequences]
