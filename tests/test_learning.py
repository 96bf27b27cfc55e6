"""Learning works: a few hundred real training steps on a two-cell clip made here, then the
learned embeddings, clustered and linked by the real stages, give back the known tracks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cosinetrack.config.sections import ClusterConfig, LinkConfig, ModelConfig, TrainConfig
from cosinetrack.formats import ctc
from cosinetrack.model.clips import TrainingSequence, renumber
from cosinetrack.model.loss import stacked_loss
from cosinetrack.model.neighbours import neighbour_matrix
from cosinetrack.stages.cluster import cluster_pair
from cosinetrack.stages.link import write_tracks
from cosinetrack.stages.train import Trainer, background_direction

FRAMES, SHAPE = 4, (32, 32)
MODEL = ModelConfig(levels=3, filters=8, embedding_dim=4, stacks=1)
TRAIN = TrainConfig(
    iterations=300,
    clip_frames=3,
    crop=32,
    batch_size=2,
    learning_rate=5e-3,
    neighbour_radius=3.0,
    device="cpu",
    seed=0,
)
# The exact spanning tree, on which knn_hdbscan finds the clusters hdbscan does (test_knn_hdbscan).
CLUSTER = ClusterConfig(knn_graph=0, min_cluster_size=20, min_samples=5, min_instance_size=10)
LINK = LinkConfig(outlines="labels")


def two_touching_cells() -> tuple[np.ndarray, np.ndarray]:
    """Frames (T, H, W) in [-1, 1] and labels: two touching disks, one brighter, drifting right."""
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    labels = np.zeros((FRAMES, *SHAPE), dtype=np.uint16)
    for t in range(FRAMES):
        for label, (cy, cx) in ((1, (12, 10 + t)), (2, (20, 18 + t))):
            labels[t][(yy - cy) ** 2 + (xx - cx) ** 2 <= 6**2] = label
    rng = np.random.default_rng(0)
    brightness = np.array([-0.8, 0.8, 0.3], dtype=np.float32)  # background, cell 1, cell 2
    image = brightness[labels] + rng.normal(0.0, 0.05, labels.shape).astype(np.float32)
    return image.astype(np.float32), labels


def whole_clip_loss(model: torch.nn.Module, image: np.ndarray, labels: np.ndarray) -> float:
    """The training loss on the whole sequence as one clip, without crop or augmentation."""
    instances, valid = renumber(labels, TRAIN.max_instances, np.random.default_rng(0))
    near = neighbour_matrix(instances, int(instances.max()), TRAIN.neighbour_radius)
    with torch.no_grad():
        outputs = model(torch.from_numpy(image)[None, :, None])  # (1, T, 1, H, W) in
        terms = stacked_loss(
            outputs,
            torch.from_numpy(instances)[None],
            torch.from_numpy(near)[None],
            torch.from_numpy(labels == 0)[None],
            torch.from_numpy(valid)[None],
        )
    return terms.total.item()


@pytest.fixture
def one_thread():
    """Train on one thread (tiny convolutions gain nothing from more, and lose much on a busy
    machine), restoring the session's setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_training_halves_the_loss_and_the_embeddings_track_both_cells(
    tmp_path: Path, one_thread
) -> None:
    image, labels = two_touching_cells()
    assert neighbour_matrix(labels, 2, TRAIN.neighbour_radius)[1, 2]  # they touch: one must differ
    sequence = TrainingSequence("clip", image, labels, labels == 0, FRAMES)
    device = torch.device("cpu")
    trainer = Trainer([sequence], MODEL, TRAIN, device)
    before = whole_clip_loss(trainer.model, image, labels)
    while trainer.iteration < TRAIN.iterations:
        trainer.step()
    after = whole_clip_loss(trainer.model, image, labels)
    assert after <= 0.5 * before, (before, after)

    background = np.array(background_direction(trainer.model, [sequence], device))
    with torch.no_grad():
        outputs = trainer.model(torch.from_numpy(image)[None, :, None])
    unit = F.normalize(outputs[-1][0], dim=1).numpy()  # (T, D, H, W)
    pairs = [cluster_pair(unit[t : t + 2], background, CLUSTER)[0] for t in range(FRAMES - 1)]
    frames = [(pairs[0][0], pairs[0][0])] + [(pair[0], pair[1]) for pair in pairs]
    res = tmp_path / "01_RES"
    tracks = write_tracks(frames, res, (FRAMES, *SHAPE), LINK)

    assert tracks.tolist() == [[1, 0, FRAMES - 1, 0], [2, 0, FRAMES - 1, 0]]
    masks = np.stack([ctc.read_label_frame(p) for p in ctc.result_masks(res)])
    # Each result track is one cell in every frame, pixel for pixel but for a stray pixel or two
    # on the contact line (measured: at most 1 of the ~225 cell pixels per frame).
    pairing = {int(r): int(np.bincount(labels[masks == r]).argmax()) for r in (1, 2)}
    assert sorted(pairing.values()) == [1, 2]
    renamed = np.vectorize({0: 0, **pairing}.get)(masks)
    wrong = [int((renamed[t] != labels[t]).sum()) for t in range(FRAMES)]
    assert max(wrong) <= 3, wrong
