"""A model folder's settings for cells of another size: the working scale and pixel sizes follow.

A model is made for objects of one size (`measured.diameter` in its `settings.yaml`); its network
knows them at the working size `measured.diameter * preprocess.scale`. Frames whose cells have
another diameter are brought to that working size by a new scale, and the pixel-valued settings
follow what the rounding of the scale leaves of the ratio of sizes, as `adapt` sizes a dataset's
settings (`stages.adapt.LENGTHS`, `AREAS`, `INVERSE_LENGTHS`). Used by the Python API
(`object_diameter`) and by the workflow for a dataset that names a `model` folder and sets
`adapt.object_diameter` (rule `rescale`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cosinetrack.config.sections import (
    AdaptConfig,
    BaselineConfig,
    ClusterConfig,
    LinkConfig,
    PreprocessConfig,
    StageConfig,
)
from cosinetrack.config.settings import read_settings, write_yaml
from cosinetrack.dag.paths import POSTPROCESS_FILE, SETTINGS_FILE
from cosinetrack.stages import adapt

logger = logging.getLogger(__name__)

# The pixel-valued sections that follow the object size, each with its settings class.
PIXEL_SECTIONS: dict[str, type[StageConfig]] = {"cluster": ClusterConfig, "link": LinkConfig}


def rescaled(
    values: dict[str, dict[str, Any]], settings: Mapping[str, Any], diameter: float
) -> dict[str, dict[str, Any]]:
    """Settings for objects of `diameter` pixels instead of the ones the model was made for.

    The model's objects had `measured.diameter` pixels at its scale: at the working size
    `measured.diameter * preprocess.scale`, the size its network learnt and its pixel settings
    were chosen for. The new scale brings the objects to that size as adapt brings a dataset's to
    `adapt.target_diameter` (two significant digits, at most `adapt.max_scale`); the pixel-valued
    clustering and linking settings follow the ratio of sizes that remains (lengths by it, areas
    by its square, the coordinate factor by its inverse), except those the model's training config
    set (their source in settings.yaml is `config`), which adapt never changes either.
    """
    if not diameter > 0:
        raise ValueError(f"object_diameter: {diameter}; expected a diameter in pixels, above 0")
    measured = settings.get("measured", {}).get("diameter")
    if not measured:
        raise ValueError(
            "object_diameter: the model folder's settings.yaml records no measured.diameter, the "
            "object size the model was made for"
        )
    scale = values["preprocess"].get("scale", PreprocessConfig().scale)
    working = measured * scale  # the objects' diameter at the working size the model knows
    # Unvalidated: the bounds of adapt.target_diameter are for configs, not for a model's size.
    chosen = adapt.choose_scale(diameter, AdaptConfig.model_construct(target_diameter=working))
    ratio = diameter * chosen / working
    out = {section: dict(keys) for section, keys in values.items()}
    out["preprocess"]["scale"] = chosen
    logger.info(
        "objects of %.4g px: working scale %.4g (the model's objects: %.4g px at scale %.4g), "
        "pixel settings times %.4g",
        diameter,
        chosen,
        measured,
        scale,
        ratio,
    )
    if ratio == 1:
        return out
    for section, cls in PIXEL_SECTIONS.items():
        out[section] = scaled_section(section, cls, out[section], settings, ratio)
    return out


def scaled_section(
    section: str,
    cls: type[StageConfig],
    values: Mapping[str, Any],
    settings: Mapping[str, Any],
    ratio: float,
) -> dict[str, Any]:
    """A section's pixel sizes times the ratio of sizes; the training config's keys stay.

    Lengths by the ratio, areas by its square, the coordinate factor by its inverse.
    """
    out = dict(values)
    sources = settings.get("sources", {})
    for table, power in ((adapt.LENGTHS, 1), (adapt.AREAS, 2), (adapt.INVERSE_LENGTHS, -1)):
        for key in table.get(section, ()):
            if sources.get(f"{section}.{key}") != "config":
                current = out.get(key, cls.model_fields[key].default)
                out[key] = adapt.scaled(current, ratio**power)
    return out


def rescale_to_cells(
    model: Path, diameter: float | None, root: Path, sequences: list[str], out: Path
) -> None:
    """Rescale a model's settings to the given diameter, else to one estimated on the frames.

    The general model meets cells of unknown size: without `adapt.object_diameter` their
    diameter is estimated from frames spread over the sequences (`adapt.estimated_diameter`).
    """
    source = "config"
    if diameter is None:
        diameter, source = adapt.estimated_diameter(root, sequences), "estimate"
        logger.warning(
            "%s: the cells' diameter estimated from the frames of %s: %.4g px (set "
            "adapt.object_diameter if it is known)",
            root,
            sequences,
            diameter,
        )
    rescale_model(model, diameter, out, source)


def rescale_model(model: Path, diameter: float, out: Path, source: str = "config") -> None:
    """Write a model folder's settings.yaml and postprocess.yaml for cells of `diameter` px.

    Each stage's section is what its rule reads from the two files (settings.yaml, then
    postprocess.yaml), rescaled; postprocess.yaml keeps its own keys, now rescaled, so that read
    in the same order they give the rescaled values. The baseline segments the frames at their
    own size, so its pixel sizes follow the ratio of diameters in the frames' pixels.
    """
    settings = read_settings(Path(model) / SETTINGS_FILE)
    postprocess = read_settings(Path(model) / POSTPROCESS_FILE)
    merged = {
        section: {**settings.get(section, {}), **postprocess.get(section, {})}
        for section in ("preprocess", *PIXEL_SECTIONS)
    }
    values = rescaled(merged, settings, diameter)
    ratio = diameter / settings["measured"]["diameter"]
    values["baseline"] = scaled_section(
        "baseline", BaselineConfig, settings.get("baseline", {}), settings, ratio
    )
    new_postprocess = {
        section: {key: values[section][key] for key in keys}
        for section, keys in postprocess.items()
        if section in values and isinstance(keys, dict)
    }
    record = {**settings, **values}
    record["rescaled"] = {"model": str(model), "object_diameter": diameter, "source": source}
    write_yaml(Path(out) / SETTINGS_FILE, record)
    write_yaml(Path(out) / POSTPROCESS_FILE, {**postprocess, **new_postprocess})
