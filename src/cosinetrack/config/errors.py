"""Config mistakes told one short line each: the dotted key, the value found, what fits there.

pydantic prints locations as nested lists and Snakemake's `validate` prints the whole JSON schema
of a key; a person needs the key as written in the file (`datasets.sim.train`), the name meant
for a misspelt one, and, for YAML's `01` read as the number 1, the quotes to add.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Mapping
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from cosinetrack.config.file import KeyValueError, SequenceName, WorkflowConfig
from cosinetrack.config.sections import NUCLEI_KEYS, ROD_KEYS, ClusterConfig

ErrorDetails = Mapping[str, Any]  # one entry of pydantic's ValidationError.errors()
Location = tuple[int | str, ...]

# Keys that earlier versions took, by the section they sat in: what to do about each instead.
REMOVED_KEYS: dict[tuple[type[BaseModel], str], str] = {
    (ClusterConfig, "backend"): (
        "removed; the runtime has one HDBSCAN (cosinetrack.algorithms.knn_hdbscan): delete this key"
    ),
}


class ConfigError(ValueError):
    """A config that cannot run, one line per mistake, each starting with its dotted key."""


def load_workflow_config(data: Any) -> WorkflowConfig:
    """Validate a config as read from YAML; mistakes raise a `ConfigError` naming their keys."""
    try:
        cfg = WorkflowConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(config_errors(error, data)) from None
    if mistakes := other_cell_keys(data):
        raise ConfigError("\n".join(mistakes))
    return cfg


def other_cell_keys(data: Any) -> list[str]:
    """Simulate keys, as written, that shape the other kind of cell than the dataset simulates.

    SimConfig itself takes them (the simulate script gets the whole dumped section, defaults
    included), so only the config as the user wrote it can tell that they would do nothing.
    """
    # cells: (the other kind, its keys, the keys that size this kind)
    kinds = {
        "nuclei": ("rods", ROD_KEYS, "radius"),
        "rods": ("nuclei", NUCLEI_KEYS, "rod_width, birth_length"),
    }
    mistakes = []
    for name, dataset in (data.get("datasets") or {}).items():
        simulate = (dataset or {}).get("simulate") or {}
        cells = simulate.get("cells", "nuclei")
        other, keys, size = kinds[cells]
        mistakes += [
            f"datasets.{name}.simulate.{key}: shapes {other} only, and this dataset simulates "
            f"{cells} (cells: {cells}); delete it (the size of {cells} is set by {size})"
            for key in keys
            if key in simulate
        ]
    return mistakes


def config_errors(error: ValidationError, data: Any) -> str:
    """Tell every mistake of a config (`data` as read) in one line each, each line once."""
    return "\n".join(dict.fromkeys(mistake(detail, data) for detail in error.errors()))


def mistake(detail: ErrorDetails, data: Any) -> str:
    """Tell one mistake: where it sits, the value found and what would fit there."""
    where = location(detail)
    sequences = sequence_list(where)
    if detail["type"] == "extra_forbidden":
        return unknown_key(where)
    if sequences is not None and detail["type"] != "value_error":
        return sequence_names(sequences, data)
    if detail["type"] == "missing":
        return f"{dotted(where)}: missing; this key is required"
    if detail["type"] in ("model_type", "dict_type"):
        return f"{dotted(where)}: {shown(detail['input'])} found, `key: value` lines expected"
    return f"{dotted(where)}: {expected(detail)}"


def location(detail: ErrorDetails) -> Location:
    """Where a mistake sits; a dict key's own mistake at that key, a section check's at its key."""
    where = tuple(part for part in detail["loc"] if part != "[key]")
    error = detail.get("ctx", {}).get("error")
    return (*where, error.key) if isinstance(error, KeyValueError) else where


def dotted(where: Location) -> str:
    """A location as written in YAML terms: `datasets.sim.train`, list items as `[0]`."""
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in where)
    return text.removeprefix(".") or "the config"


def shown(value: Any) -> str:
    """A value as the file has it (null for None), cut short when long."""
    text = "null" if value is None else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def expected(detail: ErrorDetails) -> str:
    """The value found and what fits (pydantic's "Input should be ..." after the value)."""
    error = detail.get("ctx", {}).get("error")
    if detail["type"] == "value_error" and error is not None:
        return str(error)
    message = detail["msg"]
    if message.startswith("Input should"):
        return f"{shown(detail['input'])} {message.removeprefix('Input ')}"
    return f"{shown(detail['input'])} is not valid: {message[0].lower()}{message[1:]}"


def unknown_key(where: Location) -> str:
    """Tell a key not known where it sits: a removed key's fix, else the nearest or all names."""
    section = plain(annotation_at(where[:-1]))
    for (owner, key), fix in REMOVED_KEYS.items():
        if section is owner and where[-1] == key:
            return f"{dotted(where)}: {fix}"
    known = fields(annotation_at(where[:-1]))
    close = difflib.get_close_matches(str(where[-1]), known, n=1)
    if close:
        return f"{dotted(where)}: unknown key; did you mean {close[0]!r}?"
    return f"{dotted(where)}: unknown key; valid keys here: {', '.join(known)}"


def sequence_list(where: Location) -> Location | None:
    """The location of the sequence-name list a mistake is in or is about; None for others."""
    if annotation_at(where) == list[SequenceName]:
        return where
    if where and isinstance(where[-1], int) and annotation_at(where) == SequenceName:
        return where[:-1]
    return None


def sequence_names(where: Location, data: Any) -> str:
    """Tell that sequence names go in quotes (YAML reads 01 as 1), writing the list as meant."""
    found = value_at(data, where)
    items = found if isinstance(found, list) else [found]
    fixed = f"{where[-1]}: [{', '.join(quoted_sequence(item) for item in items)}]"
    numbers = [str(item) for item in items if isinstance(item, int) and not isinstance(item, bool)]
    if not isinstance(found, list):
        fault = f"{shown(found)} is not a list"
    elif numbers:
        fault = f"{', '.join(numbers)} {'is a number' if len(numbers) == 1 else 'are numbers'}"
    else:
        return f"{dotted(where)}: sequence names are 2 or 3 digits: {fixed}"
    return f"{dotted(where)}: {fault}; write sequence names in quotes: {fixed}"


def quoted_sequence(item: Any) -> str:
    """A sequence name in quotes as it was probably meant: 1 as "01"."""
    text = str(item)
    return f'"{text.zfill(2)}"' if text.isdigit() else f'"{text}"'


def value_at(data: Any, where: Location) -> Any:
    """The value the user wrote at a location (None where the path does not lead)."""
    for part in where:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def annotation_at(where: Location) -> Any:
    """The type a location of the config is validated as (None where it is not known)."""
    annotation: Any = WorkflowConfig
    for part in where:
        annotation = inner(plain(annotation), part)
    return annotation


def inner(annotation: Any, part: int | str) -> Any:
    """The type one step into a type: a model's field, a dict's value, a list's item."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return None if field is None else field.annotation
    if get_origin(annotation) is dict:
        return get_args(annotation)[1]
    if get_origin(annotation) is list:
        return get_args(annotation)[0]
    return None


def plain(annotation: Any) -> Any:
    """A type without `| None` (optional keys); `Annotated` constraints are kept."""
    if get_origin(annotation) in (Union, types.UnionType):
        options = [option for option in get_args(annotation) if option is not type(None)]
        return options[0] if len(options) == 1 else annotation
    return annotation


def fields(annotation: Any) -> list[str]:
    """The keys a section takes (none where the location is not a section)."""
    annotation = plain(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def short_schema_error(error: Exception) -> Exception:
    """Snakemake's schema refusal as one `ConfigError` line; any other error as it is.

    The models accept some values the schema refuses (the text '1e-3' for a number, null for an
    optional key), so Snakemake's `validate` may still refuse a config the models read.
    """
    from jsonschema import ValidationError as SchemaError

    refusal = error.__context__  # Snakemake raises its WorkflowError while handling this one
    if not isinstance(refusal, SchemaError):
        return error
    return ConfigError(f"{dotted(tuple(refusal.absolute_path))}: {refusal.message}{hint(refusal)}")


def hint(refusal: Any) -> str:
    """How to write a value the schema refused for its type: null left out, a number unquoted."""
    value = refusal.instance
    if refusal.validator != "type":
        return ""
    if value is None:
        return "; leave the key out for its default"
    if not is_number_text(value):
        return ""
    exponent = re.fullmatch(r"([-+]?[0-9]+)(\.[0-9]*)?[eE]([-+]?)([0-9]+)", value)
    if exponent:
        whole, fraction, sign, power = exponent.groups()
        fixed = f"{whole}{fraction or '.0'}e{sign or '+'}{power}"
        return f"; YAML reads {value} as text, a number needs a dot and a signed exponent: {fixed}"
    return f"; write {value} without quotes"


def is_number_text(value: Any) -> bool:
    """Tell text written as a decimal number (YAML 1.1 reads 1e-3, without a dot, as text)."""
    number = r"[-+]?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?"
    return isinstance(value, str) and re.fullmatch(number, value) is not None
