"""A trained model folder: the network rebuilt from `model.pt`, with the background direction."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cosinetrack.config import ModelConfig
from cosinetrack.model import StackedHourglass


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
        try:
            record = torch.load(path, map_location=device, weights_only=False)
        except Exception as error:
            raise ValueError(f"{path}: cannot be read as a model checkpoint ({error})") from error
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
