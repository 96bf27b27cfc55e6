"""A trained model folder: the network rebuilt from `model.pt`, with the background direction."""

from __future__ import annotations

import logging
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cosinetrack.config.sections import ModelConfig
from cosinetrack.config.settings import write_yaml
from cosinetrack.dag.paths import CONFIG_FILE, MODEL_FILE, POSTPROCESS_FILE
from cosinetrack.formats.atomic import atomic_file
from cosinetrack.model import StackedHourglass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainedModel:
    """The network, the unit background direction of its embeddings, and its training record."""

    network: StackedHourglass
    background_direction: list[float]
    record: dict[str, Any]

    @property
    def embedding_dim(self) -> int:
        """Number of embedding channels D."""
        return len(self.background_direction)

    @classmethod
    def from_folder(cls, folder: Path, device: torch.device | str = "cpu") -> TrainedModel:
        """Load `folder/model.pt`, with a clear error if it is missing, corrupt or inconsistent."""
        return cls.from_file(Path(folder) / "model.pt", device)

    @classmethod
    def from_file(cls, path: Path, device: torch.device | str = "cpu") -> TrainedModel:
        """Load a model checkpoint file, with a clear error if it is missing, corrupt or wrong."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: trained model not found; run the `train` rule first")
        record = load_weights(path, device)
        if not isinstance(record, dict) or not {"model_config", "state_dict"} <= record.keys():
            raise ValueError(f"{path}: not a cosinetrack model (no model_config / state_dict)")
        cfg = ModelConfig(**record["model_config"])
        network = StackedHourglass.from_config(cfg)
        try:
            network.load_state_dict(record["state_dict"])
        except RuntimeError as error:
            raise ValueError(
                f"{path}: weights do not fit its model_config {cfg}: {error}"
            ) from error
        direction = record.get("background_direction", [])
        if len(direction) != cfg.embedding_dim:
            raise ValueError(
                f"{path}: background direction has {len(direction)} values for an embedding of "
                f"{cfg.embedding_dim} dimensions"
            )
        return cls(network.to(device).eval(), list(direction), record)


def load_weights(path: Path, device: torch.device | str) -> Any:
    """Read a checkpoint as data (tensors, numbers, strings), never running code stored in it.

    A model folder named in a config may come from anywhere; torch's `weights_only` unpickler
    refuses every object that is not plain data, so a crafted `model.pt` cannot run code.
    """
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:
        if "GLOBAL" not in str(error):  # not a pickle of objects at all, e.g. a torn file
            raise ValueError(f"{path}: cannot be read as a model checkpoint ({error})") from error
        raise ValueError(
            f"{path}: refused: the file holds Python objects, not only weights and plain values, "
            f"and loading it could run code; use a model folder written by this workflow "
            f"({unsupported(error)})"
        ) from error
    except Exception as error:
        raise ValueError(f"{path}: cannot be read as a model checkpoint ({error})") from error


def unsupported(error: Exception) -> str:
    """The line of torch's refusal that names the object it would not load."""
    lines = [line for line in str(error).splitlines() if "GLOBAL" in line]
    return lines[0].strip() if lines else str(error).splitlines()[0]


def write_model_folder(
    out_dir: Path, chosen: Path, train_dir: Path, record: dict[str, Any]
) -> None:
    """Write a model folder: the chosen weights, the training config and the choices made.

    `record` (what was chosen on the validation data) becomes `postprocess.yaml`; its
    `checkpoint` names the chosen weights: a candidate's file name, or `final`.
    """
    out_dir = Path(out_dir)
    record = {
        "checkpoint": chosen.name if chosen.parent.name == "candidates" else "final",
        **record,
    }
    with atomic_file(out_dir / MODEL_FILE) as partial:
        shutil.copyfile(chosen, partial)
    shutil.copyfile(Path(train_dir) / CONFIG_FILE, out_dir / CONFIG_FILE)
    write_yaml(out_dir / POSTPROCESS_FILE, record)
    logger.info("chose %s", record)
