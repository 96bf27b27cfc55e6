from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import zarr

from cosinetrack.config.sections import ModelConfig, PreprocessConfig, TrainConfig
from cosinetrack.formats.store import open_store
from cosinetrack.model import clips
from cosinetrack.model.clips import (
    TrainingSequence,
    augment,
    open_training_sequence,
    renumber,
    sample_clip,
)
from cosinetrack.model.device import choose_device
from cosinetrack.model.folder import TrainedModel
from cosinetrack.stages.preprocess import run_preprocess
from cosinetrack.stages.train import Trainer, run_train, usable_threads

MODEL = ModelConfig(levels=2, filters=4, embedding_dim=4)
TRAIN = TrainConfig(iterations=4, crop=32, clip_frames=3, log_every=2, checkpoint_every=2)


@pytest.fixture
def prep(two_cells: Path, tmp_path: Path) -> Path:
    """A preprocessed training sequence with ground truth."""
    out = tmp_path / "prep" / "01.zarr"
    run_preprocess(two_cells, "01", out, PreprocessConfig())
    return out


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return TrainedModel.from_folder(folder).network.state_dict()


def test_training_writes_the_model_folder(prep: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    run_train([prep], out, MODEL, TRAIN)
    assert sorted(p.name for p in out.iterdir()) == [
        "candidates",
        "config.yaml",
        "loss.png",
        "model.pt",
        "train_log.csv",
    ]
    # train.candidates [0.8, 1.0] of 4 iterations: the weights after 3 are kept besides the final
    assert [p.name for p in (out / "candidates").iterdir()] == ["iteration000003.pt"]
    assert (
        TrainedModel.from_file(out / "candidates" / "iteration000003.pt").record["iteration"] == 3
    )
    log = pd.read_csv(out / "train_log.csv")
    assert log["iteration"].tolist() == [2, 4]
    assert set(log.columns) >= {"total", "instance_pull", "instance_push", "learning_rate"}
    assert np.isfinite(log["total"]).all()
    model = TrainedModel.from_folder(out)
    assert model.record["model_config"] == MODEL.model_dump()
    assert np.linalg.norm(model.background_direction) == pytest.approx(1.0)


def test_held_back_frames_never_enter_training(prep: Path) -> None:
    sequence = open_training_sequence(prep, stop=3)
    assert sequence.frames == 3 and sequence.image.shape[0] == 3  # read into memory up to stop
    rng = np.random.default_rng(0)
    held_back = np.asarray(open_store(prep, "preprocessed")["image"][3])
    for _ in range(50):
        clip = sample_clip([sequence], TRAIN, rng)
        assert clip.background.shape == clip.instances.shape == clip.image.shape
        assert not any(np.array_equal(frame, held_back) for frame in clip.image)
    with pytest.raises(ValueError, match="exceeds the 2 frames"):
        run_train([prep], prep.parent / "short", MODEL, TRAIN, stops=[2])


def test_sequences_too_large_for_memory_give_the_same_clips_from_the_store(
    prep: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_memory = open_training_sequence(prep, stop=3)
    monkeypatch.setattr(clips, "IN_MEMORY_BYTES", 0)
    from_store = open_training_sequence(prep, stop=3)
    assert isinstance(in_memory.image, np.ndarray)
    assert isinstance(from_store.image, zarr.Array)
    first, second = np.random.default_rng(5), np.random.default_rng(5)
    for _ in range(10):
        a, b = sample_clip([in_memory], TRAIN, first), sample_clip([from_store], TRAIN, second)
        for field in ("image", "instances", "neighbours", "background", "valid"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_training_is_deterministic_on_cpu(prep: Path, tmp_path: Path) -> None:
    run_train([prep], tmp_path / "a", MODEL, TRAIN)
    run_train([prep], tmp_path / "b", MODEL, TRAIN)
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    log_a = pd.read_csv(tmp_path / "a" / "train_log.csv")
    log_b = pd.read_csv(tmp_path / "b" / "train_log.csv")
    assert log_a["total"].tolist() == log_b["total"].tolist()


def test_interrupted_training_resumes_to_the_same_model(
    prep: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_train([prep], tmp_path / "straight", MODEL, TRAIN)
    step = Trainer.step

    def interrupt_after_three(self: Trainer):
        if self.iteration == 3:
            raise KeyboardInterrupt
        return step(self)

    monkeypatch.setattr(Trainer, "step", interrupt_after_three)
    with pytest.raises(KeyboardInterrupt):
        run_train([prep], tmp_path / "resumed", MODEL, TRAIN)
    assert (tmp_path / "resumed" / "checkpoint.pt").exists()
    assert not (tmp_path / "resumed" / "model.pt").exists()
    monkeypatch.setattr(Trainer, "step", step)
    run_train([prep], tmp_path / "resumed", MODEL, TRAIN)
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not (tmp_path / "resumed" / "checkpoint.pt").exists()


def test_crop_larger_than_frames_names_the_key(prep: Path, tmp_path: Path) -> None:
    cfg = TRAIN.model_copy(update={"crop": 64})
    with pytest.raises(ValueError, match=r"train.crop = 64 is larger than the 48x64 frames"):
        run_train([prep], tmp_path / "model", MODEL, cfg)


def test_clip_longer_than_sequence_names_the_key(prep: Path, tmp_path: Path) -> None:
    cfg = TRAIN.model_copy(update={"clip_frames": 5})
    with pytest.raises(ValueError, match=r"train.clip_frames = 5 exceeds the 4 frames"):
        run_train([prep], tmp_path / "model", MODEL, cfg)


def test_sequence_without_ground_truth_is_refused(two_cells: Path, tmp_path: Path) -> None:
    import shutil

    shutil.rmtree(two_cells / "01_GT")
    out = tmp_path / "01.zarr"
    run_preprocess(two_cells, "01", out, PreprocessConfig())
    with pytest.raises(ValueError, match="sequence 01 has no ground truth"):
        run_train([out], tmp_path / "model", MODEL, TRAIN)


def test_nan_loss_names_the_iteration_and_terms(prep: Path, tmp_path: Path) -> None:
    image = zarr.open_group(prep, mode="a")["image"]
    image[:] = np.nan
    with pytest.raises(
        FloatingPointError, match=r"non-finite loss at iteration 1: \{'instance_pull'"
    ):
        run_train([prep], tmp_path / "model", MODEL, TRAIN)
    assert not (tmp_path / "model" / "model.pt").exists()


def test_clips_are_cropped_and_renumbered(prep: Path) -> None:
    seq = open_training_sequence(prep)
    clip = sample_clip([seq], TRAIN, np.random.default_rng(1))
    assert clip.image.shape == clip.instances.shape == (3, 32, 32)
    count = int(clip.instances.max())
    assert set(np.unique(clip.instances)) == set(range(count + 1))
    assert clip.neighbours.shape == (count + 1, count + 1)


def sparse_sequence(frames: int = 5) -> TrainingSequence:
    """256x256 frames covered 1% by one disk near a corner; frame 0 knows it by a marker alone."""
    yy, xx = np.mgrid[:256, :256]
    labels = np.zeros((frames, 256, 256), dtype=np.uint16)
    labels[:, (yy - 240) ** 2 + (xx - 12) ** 2 <= 14.5**2] = 7
    labels[0] = 0
    labels[0, 238:241, 10:13] = 7  # the marker of a cell without mask in that frame
    image = np.where(labels > 0, 1.0, -1.0).astype(np.float32)
    return TrainingSequence("sparse", image, labels, labels == 0, frames)


def test_object_centred_crops_hold_the_sparse_object() -> None:
    """Centred on the clip's first frame's instance (a marker there), clamped at the corner."""
    sequence = sparse_sequence()
    assert (sequence.labels[1] > 0).mean() == pytest.approx(0.01, abs=0.001)
    centred = TrainConfig(crop=32, clip_frames=3, object_crops=1.0)
    rng = np.random.default_rng(0)
    assert all(sample_clip([sequence], centred, rng).instances[0].max() == 1 for _ in range(50))
    uniform = TrainConfig(crop=32, clip_frames=3)
    held = [sample_clip([sequence], uniform, rng).instances.max() for _ in range(50)]
    assert sum(held) < 10  # uniform crops rarely meet it


def test_object_centred_crops_are_drawn_alike_for_a_seed_and_skip_empty_frames() -> None:
    sequence = sparse_sequence()
    half = TrainConfig(crop=32, clip_frames=2, object_crops=0.5)
    first, second = np.random.default_rng(3), np.random.default_rng(3)
    for _ in range(10):
        a, b = sample_clip([sequence], half, first), sample_clip([sequence], half, second)
        assert np.array_equal(a.image, b.image) and np.array_equal(a.instances, b.instances)
    nothing = np.zeros_like(sequence.labels)
    empty = TrainingSequence("empty", sequence.image, nothing, nothing == 0, 5)
    clip = sample_clip([empty], TrainConfig(crop=32, clip_frames=2, object_crops=1.0), first)
    assert clip.instances.shape == (2, 32, 32) and clip.instances.max() == 0


def uniform_clip(
    sequences: list[TrainingSequence], cfg: TrainConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A clip as the sampler cut it before object-centred crops: these draws and no other."""
    weights = np.array([seq.frames - cfg.clip_frames + 1 for seq in sequences], dtype=float)
    seq = sequences[int(rng.choice(len(sequences), p=weights / weights.sum()))]
    _, height, width = seq.image.shape
    t = int(rng.integers(seq.frames - cfg.clip_frames + 1))
    y = int(rng.integers(height - cfg.crop + 1))
    x = int(rng.integers(width - cfg.crop + 1))
    window = (slice(t, t + cfg.clip_frames), slice(y, y + cfg.crop), slice(x, x + cfg.crop))
    image, (labels, _) = augment(
        seq.image[window], [seq.labels[window], seq.background[window]], cfg, rng
    )
    return image, renumber(labels, cfg.max_instances, rng)[0]


def test_uniform_crops_draw_the_random_numbers_they_drew_before() -> None:
    """object_crops 0 cuts the same clips as before and leaves the generator in the same state."""
    sequences = [sparse_sequence(6), sparse_sequence(4)]
    cfg = TrainConfig(crop=48, clip_frames=3)
    rng, before = np.random.default_rng(11), np.random.default_rng(11)
    for _ in range(20):
        clip = sample_clip(sequences, cfg, rng)
        image, instances = uniform_clip(sequences, cfg, before)
        assert np.array_equal(clip.image, image) and np.array_equal(clip.instances, instances)
    assert rng.bit_generator.state == before.bit_generator.state


def test_renumber_keeps_at_most_max_instances() -> None:
    labels = np.arange(10, dtype=np.uint16).reshape(1, 2, 5) * 7
    instances, valid = renumber(labels, 3, np.random.default_rng(0))
    assert sorted(np.unique(instances)) == [0, 1, 2, 3]
    assert valid.sum() == 4  # background + the three kept instances
    assert (instances[~valid] == 0).all()


def test_threads_are_capped_at_the_cpus_this_process_may_use(monkeypatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 3})
    assert [usable_threads(n) for n in (512, 2, 1, 0)] == [2, 2, 1, 1]


def test_device() -> None:
    assert choose_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert choose_device("auto").type == "cpu"
        with pytest.raises(ValueError, match="no CUDA device"):
            choose_device("cuda")


def test_frames_that_teach_no_background_are_refused_before_the_first_step(
    two_cells: Path, tmp_path: Path
) -> None:
    import shutil

    shutil.rmtree(two_cells / "01_GT" / "SEG")  # markers only, and a margin wider than the frame
    prep = tmp_path / "01.zarr"
    run_preprocess(two_cells, "01", prep, PreprocessConfig(marker_margin=100))
    assert not zarr.open_group(prep, mode="r")["background_pixels"][:].any()
    with pytest.raises(ValueError, match=r"lower preprocess\.marker_margin"):
        run_train([prep], tmp_path / "model", MODEL, TRAIN)
    assert not (tmp_path / "model" / "train_log.csv").exists()
    assert not list((tmp_path / "model").glob("**/*.pt"))
