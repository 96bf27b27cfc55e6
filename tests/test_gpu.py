"""The CUDA path: training under bfloat16 autocast, and inference on the GPU that matches the CPU.

Skipped, with the reason, on machines without CUDA (CI and most laptops); run it where a GPU is:
`.venv/bin/python -m pytest -m gpu`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_learning import FRAMES, MODEL, TRAIN, two_touching_cells

from cosinetrack.config.sections import InferConfig
from cosinetrack.model.clips import TrainingSequence
from cosinetrack.stages.infer import TiledStream
from cosinetrack.stages.train import Trainer

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def trained_on(device: torch.device, steps: int) -> Trainer:
    """A Trainer on the two-cell clip after `steps` steps on `device`, mixed precision on."""
    image, labels = two_touching_cells()
    sequence = TrainingSequence("clip", image, labels, labels == 0, FRAMES)
    cfg = TRAIN.model_copy(update={"device": device.type, "mixed_precision": True})
    trainer = Trainer([sequence], MODEL, cfg, device)
    for _ in range(steps):
        terms = trainer.step()
        assert torch.isfinite(terms.total)
    return trainer


def streamed(network: torch.nn.Module, image: np.ndarray, device: torch.device) -> np.ndarray:
    """Unit embeddings (T, D, H, W) of a sequence streamed frame by frame as inference does."""
    stream = TiledStream(network.to(device).eval(), image.shape[1:], InferConfig(device="cpu"))
    return np.stack([stream(torch.from_numpy(frame).to(device)).cpu().numpy() for frame in image])


def test_cuda_training_learns_and_inference_matches_the_cpu() -> None:
    cuda = torch.device("cuda")
    trainer = trained_on(cuda, 50)
    image, _ = two_touching_cells()
    on_gpu = streamed(trainer.model, image, cuda)
    on_cpu = streamed(trainer.model, image, torch.device("cpu"))
    cosine = (on_gpu * on_cpu).sum(axis=1)  # (T, H, W) per-pixel agreement of the unit vectors
    assert cosine.mean() > 0.999 and cosine.min() > 0.99, (cosine.mean(), cosine.min())
