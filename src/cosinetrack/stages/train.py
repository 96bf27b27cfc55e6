"""Training of the recurrent stacked hourglass with the cosine embedding loss.

Writes into the training folder: `model.pt` (weights, model config, background direction,
provenance), `candidates/iteration*.pt` (the same, earlier in training, for the validation choice),
`config.yaml` (the model config, readable), `train_log.csv` and `loss.png`. An interrupted run
resumes from `checkpoint.pt` (weights, optimiser, schedule, random states), which is removed once
the model is complete.
"""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from tqdm import tqdm

from cosinetrack.config.sections import ModelConfig, TrainConfig
from cosinetrack.dag.provenance import config_hash, provenance
from cosinetrack.dag.resources import usable_threads
from cosinetrack.formats.atomic import atomic_file
from cosinetrack.model import StackedHourglass
from cosinetrack.model.clips import (
    Batch,
    TrainingSequence,
    check_background_known,
    check_clip_fits,
    collate,
    open_training_sequence,
    sample_clip,
)
from cosinetrack.model.device import autocast_bfloat16, choose_device
from cosinetrack.model.folder import load_weights
from cosinetrack.model.loss import LossTerms, stacked_loss

logger = logging.getLogger(__name__)

LOG_COLUMNS = (
    "iteration",
    "total",
    "instance_pull",
    "instance_push",
    "background_pull",
    "background_push",
    "learning_rate",
    "seconds",
)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Adam:
    """Adam with L2 weight decay on convolution kernels only (not biases or norms), as reference."""
    kernels = [p for p in model.parameters() if p.ndim == 4]
    biases = [p for p in model.parameters() if p.ndim != 4]
    groups = [
        {"params": kernels, "weight_decay": cfg.weight_decay},
        {"params": biases, "weight_decay": 0.0},
    ]
    return torch.optim.Adam(groups, lr=cfg.learning_rate)


def make_schedule(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig
) -> torch.optim.lr_scheduler.LRScheduler:
    """Step schedule: the learning rate drops to a tenth after `lr_decay_at` of the iterations."""
    step = max(1, round(cfg.lr_decay_at * cfg.iterations))
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step, gamma=0.1)


def training_signature(
    model_cfg: ModelConfig, cfg: TrainConfig, stores: list[Path], stops: list[int | None]
) -> str:
    """Hash what a checkpoint must agree with to be resumed: configs and training frames."""
    return config_hash(
        {
            "model": model_cfg.model_dump(),
            "train": cfg.model_dump(),
            "stores": [str(s) for s in stores],
            "stops": stops,
        }
    )


def candidate_iterations(cfg: TrainConfig) -> set[int]:
    """Iterations before the last after which the weights are kept as validation candidates."""
    return {round(f * cfg.iterations) for f in cfg.candidates} - {0, cfg.iterations}


def save_atomic(obj: Any, path: Path) -> None:
    """Save with torch.save under a temporary name, then rename, so a crash leaves no torn file."""
    with atomic_file(path) as partial:
        torch.save(obj, partial)


class Trainer:
    """Owns the model, optimiser, schedule and random state of one training run."""

    def __init__(
        self,
        sequences: list[TrainingSequence],
        model_cfg: ModelConfig,
        cfg: TrainConfig,
        device: torch.device,
    ) -> None:
        """Seed everything and build model, optimiser and schedule."""
        torch.manual_seed(cfg.seed)
        self.cfg, self.device, self.sequences = cfg, device, sequences
        self.rng = np.random.default_rng(cfg.seed)
        self.model = StackedHourglass.from_config(model_cfg).to(device)
        self.optimizer = make_optimizer(self.model, cfg)
        self.schedule = make_schedule(self.optimizer, cfg)
        self.iteration = 0

    def state(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue exactly where this one stopped."""
        return {
            "iteration": self.iteration,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint made by `state`."""
        self.iteration = state["iteration"]
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])

    def batch(self) -> Batch:
        """Draw a batch of augmented clips."""
        clips = [
            sample_clip(self.sequences, self.cfg, self.rng) for _ in range(self.cfg.batch_size)
        ]
        return collate(clips).to(self.device)

    def step(self) -> LossTerms:
        """One optimiser step; a non-finite loss stops training with the iteration and its terms."""
        batch = self.batch()
        amp = autocast_bfloat16(self.device, self.cfg.mixed_precision)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=amp):
            outputs = self.model(batch.image)
        terms = stacked_loss(
            outputs, batch.instances, batch.neighbours, batch.background, batch.valid
        )
        if not torch.isfinite(terms.total):
            raise FloatingPointError(
                f"non-finite loss at iteration {self.iteration + 1}: {terms.as_floats()}; "
                f"lower train.learning_rate or check the input for NaNs"
            )
        self.optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        self.optimizer.step()
        self.schedule.step()
        self.iteration += 1
        return terms


@torch.no_grad()
def background_direction(
    model: StackedHourglass, sequences: list[TrainingSequence], device: torch.device
) -> list[float]:
    """Estimate the unit background embedding: mean over the pixels certain to be background.

    The loss learns the background direction (its own mean per clip); clustering needs it fixed, so
    it is measured once on whole training frames, streamed with the recurrent state as in inference.
    """
    total = None
    for seq in sequences:
        state = None
        for t in range(seq.frames):
            frame = torch.from_numpy(seq.image[t])[None, None].to(device)  # (1, 1, H, W)
            outputs, state = model.step(frame, state)
            unit = F.normalize(outputs[-1][0], dim=0)  # (D, H, W)
            background = torch.from_numpy(seq.background[t]).to(device)  # (H, W)
            summed = unit[:, background].sum(1)  # (D,)
            total = summed if total is None else total + summed
    if total is None or not total.any():
        raise ValueError("no training frame has a pixel certain to be background")
    return F.normalize(total, dim=0).cpu().tolist()


def write_log(path: Path, rows: list[dict[str, float]]) -> None:
    """Write the training log as CSV."""
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=LOG_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def plot_log(rows: list[dict[str, float]], path: Path) -> None:
    """Plot the loss terms over iterations (log scale) into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4), dpi=100)
    iterations = [row["iteration"] for row in rows]
    for column in LOG_COLUMNS[1:6]:
        axis.plot(
            iterations,
            [row[column] for row in rows],
            label=column,
            lw=1.2 if column == "total" else 0.8,
        )
    axis.set(
        xlabel="iteration", ylabel="loss (sum over stacks)", yscale="log", title="Training loss"
    )
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def run_train(
    stores: list[Path],
    out_dir: Path,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    threads: int = 1,
    stops: list[int | None] | None = None,
    init: Path | None = None,
) -> None:
    """Train on the preprocessed training sequences (each up to its stop frame) into `out_dir`.

    `init` is a model.pt to start from (`train.init: general`) instead of random weights.
    """
    stops = list(stops) if stops is not None else [None] * len(stores)
    sequences = [open_training_sequence(s, stop) for s, stop in zip(stores, stops, strict=True)]
    check_background_known(stores, stops)
    signature = training_signature(model_cfg, cfg, stores, stops)
    train_sequences(sequences, out_dir, model_cfg, cfg, signature, threads, init)


def start_from(model: StackedHourglass, init: Path, model_cfg: ModelConfig) -> None:
    """Load a trained model's weights to fine-tune them, refusing those of another network."""
    record = load_weights(init, "cpu")
    theirs = record.get("model_config", {}) if isinstance(record, dict) else {}
    differ = [
        f"model.{key} is {mine!r} here, {theirs.get(key)!r} in it"
        for key, mine in model_cfg.model_dump().items()
        if theirs.get(key) != mine
    ]
    if differ:
        raise ValueError(
            f"train.init: {init} holds another network ({'; '.join(differ)}): leave those "
            f"`model` keys at its values, or set train.init: random"
        )
    model.load_state_dict(record["state_dict"])
    logger.info("starting from the weights of %s", init)


def train_sequences(
    sequences: list[TrainingSequence],
    out_dir: Path,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    signature: str,
    threads: int = 1,
    init: Path | None = None,
) -> None:
    """Train on sequences (from stores, or still images of one frame each) into `out_dir`.

    A checkpoint in `out_dir` is resumed only if it was made with the same `signature`.
    """
    torch.set_num_threads(usable_threads(threads))
    torch.use_deterministic_algorithms(True, warn_only=True)
    (out_dir / "candidates").mkdir(parents=True, exist_ok=True)
    check_clip_fits(sequences, cfg)
    device = choose_device(cfg.device)
    trainer = Trainer(sequences, model_cfg, cfg, device)
    if init is not None:
        start_from(trainer.model, init, model_cfg)
    checkpoint = out_dir / "checkpoint.pt"
    rows = resume(trainer, checkpoint, signature)
    logger.info(
        "training on %s, %d parameters, from iteration %d",
        device,
        sum(p.numel() for p in trainer.model.parameters()),
        trainer.iteration,
    )
    start = time.perf_counter() - (rows[-1]["seconds"] if rows else 0.0)
    progress = tqdm(total=cfg.iterations, initial=trainer.iteration, desc="train", mininterval=10)
    while trainer.iteration < cfg.iterations:
        terms = trainer.step()
        progress.update()
        if trainer.iteration % cfg.log_every == 0 or trainer.iteration == cfg.iterations:
            rows.append(log_row(trainer, terms, time.perf_counter() - start))
        if trainer.iteration in candidate_iterations(cfg):
            name = f"iteration{trainer.iteration:06d}.pt"
            record = model_record(trainer, sequences, model_cfg, cfg)
            save_atomic(record, out_dir / "candidates" / name)
        if trainer.iteration % cfg.checkpoint_every == 0 and trainer.iteration < cfg.iterations:
            save_atomic({"signature": signature, "rows": rows, **trainer.state()}, checkpoint)
    progress.close()
    finish(trainer, sequences, model_cfg, cfg, out_dir, rows)
    checkpoint.unlink(missing_ok=True)


def log_row(trainer: Trainer, terms: LossTerms, seconds: float) -> dict[str, float]:
    """One row of train_log.csv."""
    row = {"iteration": trainer.iteration, **terms.as_floats()}
    return {**row, "learning_rate": trainer.schedule.get_last_lr()[0], "seconds": round(seconds, 3)}


def resume(trainer: Trainer, checkpoint: Path, signature: str) -> list[dict[str, float]]:
    """Restore a matching checkpoint and return its log rows; ignore one from other settings."""
    if not checkpoint.exists():
        return []
    state = torch.load(checkpoint, map_location=trainer.device, weights_only=True)  # data only
    if state.get("signature") != signature:
        logger.warning("%s was made with other settings; training from scratch", checkpoint)
        return []
    trainer.restore(state)
    logger.info("resuming from %s at iteration %d", checkpoint, trainer.iteration)
    return state["rows"]


def model_record(
    trainer: Trainer,
    sequences: list[TrainingSequence],
    model_cfg: ModelConfig,
    cfg: TrainConfig,
) -> dict[str, Any]:
    """The weights as they are now, with the background direction they give and provenance."""
    trainer.model.eval()
    direction = background_direction(trainer.model, sequences, trainer.device)
    trainer.model.train()
    return {
        "model_config": model_cfg.model_dump(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in trainer.model.state_dict().items()},
        "background_direction": direction,
        "train_config": cfg.model_dump(),
        "iteration": trainer.iteration,
        "provenance": provenance(),
    }


def finish(
    trainer: Trainer,
    sequences: list[TrainingSequence],
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    out_dir: Path,
    rows: list[dict[str, float]],
) -> None:
    """Write model.pt, config.yaml, the log and the loss plot."""
    record = model_record(trainer, sequences, model_cfg, cfg)
    direction = record["background_direction"]
    save_atomic(record, out_dir / "model.pt")
    (out_dir / "config.yaml").write_text(
        yaml.safe_dump(
            {
                "model": model_cfg.model_dump(),
                "train": cfg.model_dump(),
                "background_direction": direction,
            },
            sort_keys=False,
        )
    )
    write_log(out_dir / "train_log.csv", rows)
    plot_log(rows, out_dir / "loss.png")
    if rows:
        logger.info("final loss terms: %s", {k: round(v, 4) for k, v in rows[-1].items()})
