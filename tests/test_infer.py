import itertools
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import zarr

from cosinetrack.config.sections import InferConfig, ModelConfig
from cosinetrack.model import StackedHourglass
from cosinetrack.model.folder import TrainedModel
from cosinetrack.stages.infer import Span, TiledStream, Window, run_infer, tile_spans, windows

MODEL = ModelConfig(levels=2, filters=4, embedding_dim=4, norm="none")


def save_model(folder: Path, network: StackedHourglass, cfg: ModelConfig = MODEL) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    direction = [1.0] + [0.0] * (cfg.embedding_dim - 1)
    torch.save(
        {
            "model_config": cfg.model_dump(),
            "state_dict": network.state_dict(),
            "background_direction": direction,
        },
        folder / "model.pt",
    )
    return folder


def network(norm: str = "none") -> StackedHourglass:
    torch.manual_seed(0)
    return StackedHourglass.from_config(MODEL.model_copy(update={"norm": norm})).eval()


def test_tile_spans_cover_the_axis_once() -> None:
    assert tile_spans(50, 64, 16) == [Span(0, 50, 0, 50)]
    spans = tile_spans(100, 40, 10)
    assert [(s.start, s.stop) for s in spans] == [(0, 40), (30, 70), (60, 100)]
    assert [(s.keep_start, s.keep_stop) for s in spans] == [(0, 35), (35, 65), (65, 100)]
    for size, tile, overlap in [(257, 64, 16), (1000, 256, 128), (65, 64, 0)]:
        spans = tile_spans(size, tile, overlap)
        assert spans[0].keep_start == 0 and spans[-1].keep_stop == size
        assert all(a.keep_stop == b.keep_start for a, b in itertools.pairwise(spans))
        assert all(s.stop - s.start == tile for s in spans)


def stream(net: StackedHourglass, frames: np.ndarray, cfg: InferConfig) -> list[torch.Tensor]:
    tiles = TiledStream(net, frames.shape[1:], cfg)
    return [tiles(torch.from_numpy(f)) for f in frames]


def test_tiles_agree_with_the_whole_frame() -> None:
    # Without normalisation layers a tile sees exactly what the whole frame sees near its centre.
    rng = np.random.default_rng(0)
    frames = rng.normal(size=(3, 96, 80)).astype(np.float32)
    net = network("none")
    whole = stream(net, frames, InferConfig(tile=128, tile_overlap=16))
    tiled = stream(net, frames, InferConfig(tile=48, tile_overlap=40))
    assert len(TiledStream(net, (96, 80), InferConfig(tile=48, tile_overlap=40)).rows) == 7
    # Frame 0 (zero memory): identical where the kept region lies beyond the receptive field.
    assert torch.allclose(whole[0], tiled[0], atol=1e-5)
    # Later frames: per-tile memory lets edge effects creep in, but no seams appear.
    cosine = (whole[-1] * tiled[-1]).sum(0)
    assert cosine.min() > 0.99


def test_group_normalised_tiles_stay_close_to_the_whole_frame() -> None:
    # Group normalisation takes its statistics over each tile: close, though not identical.
    frames = np.random.default_rng(0).normal(size=(3, 96, 80)).astype(np.float32)
    net = network("group")
    whole = stream(net, frames, InferConfig(tile=128, tile_overlap=16))
    tiled = stream(net, frames, InferConfig(tile=48, tile_overlap=40))
    cosine = (whole[-1] * tiled[-1]).sum(0)
    print(f"group norm tiles: cosine min {cosine.min():.4f}, mean {cosine.mean():.4f}")
    assert cosine.mean() > 0.95


def test_streaming_equals_the_clip_forward() -> None:
    rng = np.random.default_rng(1)
    frames = rng.normal(size=(4, 40, 36)).astype(np.float32)
    net = network()
    streamed = torch.stack(stream(net, frames, InferConfig()))  # (T, D, H, W)
    with torch.no_grad():
        clip = net(torch.from_numpy(frames)[None, :, None])[-1][0]  # (T, D, H, W)
    assert torch.allclose(streamed, F.normalize(clip, dim=1), atol=1e-5)


def prep_store(path: Path, frames: int = 5) -> Path:
    prep = zarr.open_group(path, mode="w")
    data = np.random.default_rng(2).normal(size=(frames, 40, 36)).astype("f4")
    prep.create_array("image", data=data)
    prep.attrs["sequence"] = "01"
    return path


def test_run_infer_writes_unit_embeddings_of_every_pair(tmp_path: Path) -> None:
    prep = prep_store(tmp_path / "01.zarr")
    save_model(tmp_path / "model", network())
    run_infer(prep, tmp_path / "model", tmp_path / "e.zarr", InferConfig(window=0))
    group = zarr.open_group(tmp_path / "e.zarr", mode="r")
    embedding = group["embedding"]
    assert embedding.shape == (4, 2, 4, 40, 36) and embedding.dtype == np.float16
    assert embedding.chunks == (1, 2, 4, 40, 36)
    norms = np.linalg.norm(embedding[:].astype(np.float32), axis=2)
    assert np.allclose(norms, 1.0, atol=2e-3)
    # One run over the whole sequence: frame t+1 of pair t is frame t+1 of pair t+1.
    assert np.array_equal(embedding[0, 1], embedding[1, 0])
    assert group.attrs["background_direction"] == [1.0, 0.0, 0.0, 0.0]
    assert group.attrs["frames"] == 5 and group.attrs["sequence"] == "01"


def test_windows_cover_every_pair_once() -> None:
    assert windows(5, 0) == [Window(0, range(4))]
    assert windows(5, 8) == [Window(0, range(4))]
    runs = windows(10, 4)
    assert runs == [
        Window(0, range(3)),
        Window(2, range(3, 5)),
        Window(4, range(5, 7)),
        Window(6, range(7, 9)),
    ]
    for frames, window in [(40, 4), (41, 5), (7, 2), (100, 10)]:
        runs = windows(frames, window)
        covered = [t for run in runs for t in run.pairs]
        assert covered == list(range(frames - 1))
        for run in runs:
            assert run.last - run.first + 1 <= window and run.first >= 0
            assert run.pairs.start - run.first >= (window - 1) // 2 or run.first == 0


def test_windowed_pairs_equal_a_fresh_run_over_their_window(tmp_path: Path) -> None:
    prep = prep_store(tmp_path / "01.zarr", frames=7)
    net = network()
    save_model(tmp_path / "model", net)
    run_infer(prep, tmp_path / "model", tmp_path / "e.zarr", InferConfig(window=4))
    embedding = zarr.open_group(tmp_path / "e.zarr", mode="r")["embedding"]
    frames = torch.from_numpy(zarr.open_group(prep, mode="r")["image"][:])
    with torch.no_grad():
        clip = F.normalize(net(frames[2:6][None, :, None])[-1][0], dim=1)  # frames 2..5
    # The second run (frames 2..5) embeds pairs 3 and 4.
    assert np.allclose(embedding[4, 1].astype(np.float32), clip[3].numpy(), atol=2e-3)
    assert np.allclose(embedding[3, 0].astype(np.float32), clip[1].numpy(), atol=2e-3)
    assert not np.array_equal(embedding[2, 1], embedding[3, 0])  # pair 2 comes from run 1


def test_missing_model_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"model\.pt: trained model not found"):
        TrainedModel.from_folder(tmp_path)


def test_corrupt_model_is_named(tmp_path: Path) -> None:
    (tmp_path / "model.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"model\.pt: cannot be read as a model checkpoint"):
        TrainedModel.from_folder(tmp_path)


class RunsCode:
    """An object whose unpickling runs a command: what a crafted model.pt would hold."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def test_model_holding_code_is_refused_before_it_runs(tmp_path: Path) -> None:
    save_model(tmp_path, network())
    record = torch.load(tmp_path / "model.pt", weights_only=True)
    marker = tmp_path / "code-ran"
    torch.save({**record, "note": RunsCode(marker)}, tmp_path / "model.pt")
    with pytest.raises(ValueError, match=r"model\.pt: refused: the file holds Python objects"):
        TrainedModel.from_folder(tmp_path)
    assert not marker.exists()  # the command in the pickle never ran
    torch.load(tmp_path / "model.pt", weights_only=False)  # the crafted file is real: it runs
    assert marker.exists()


def test_model_for_another_embedding_dimension_is_refused(tmp_path: Path) -> None:
    other = ModelConfig(levels=2, filters=4, embedding_dim=8)
    save_model(tmp_path, StackedHourglass.from_config(other), cfg=MODEL)
    with pytest.raises(ValueError, match="weights do not fit its model_config"):
        TrainedModel.from_folder(tmp_path)


def test_background_direction_of_wrong_length_is_refused(tmp_path: Path) -> None:
    save_model(tmp_path, network())
    record = torch.load(tmp_path / "model.pt", weights_only=True)
    record["background_direction"] = [1.0, 0.0]
    torch.save(record, tmp_path / "model.pt")
    with pytest.raises(ValueError, match="background direction has 2 values for an embedding of 4"):
        TrainedModel.from_folder(tmp_path)


def test_tile_overlap_must_be_smaller_than_the_tile() -> None:
    with pytest.raises(ValueError, match="tile_overlap"):
        InferConfig(tile=64, tile_overlap=64)
