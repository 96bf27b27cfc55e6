from pathlib import Path

import pytest
import torch
import yaml

from cosinetrack.config.sections import ModelConfig
from cosinetrack.model import ConvGRU, StackedHourglass, State

REPO = Path(__file__).resolve().parents[1]
TINY = {"levels": 3, "filters": 4, "embedding_dim": 3, "stacks": 2}


@pytest.fixture
def net() -> StackedHourglass:
    torch.manual_seed(0)
    return StackedHourglass(**TINY).eval()


def test_reference_parameter_count() -> None:
    gru = 3 * (9 * 128 * 64 + 64)
    assert sum(p.numel() for p in ConvGRU(64, 64).parameters()) == gru
    reference = yaml.safe_load((REPO / "config/reference.yaml").read_text())["model"]
    net = StackedHourglass.from_config(ModelConfig(**reference))
    assert sum(p.numel() for p in net.parameters()) == 4_088_352


def test_from_config_matches_kwargs() -> None:
    cfg = ModelConfig(**TINY)
    a = StackedHourglass.from_config(cfg)
    b = StackedHourglass(**cfg.model_dump())
    assert a.state_dict().keys() == b.state_dict().keys()


def test_gates_start_neutral() -> None:
    gru = ConvGRU(2, 3)
    x, h = torch.randn(1, 2, 5, 5), torch.randn(1, 3, 5, 5)
    candidate = torch.relu(gru.candidate(torch.cat([x, 0.5 * h], dim=1)))
    torch.testing.assert_close(gru(x, h), 0.5 * h + 0.5 * candidate)


def test_clip_shapes_with_odd_size(net: StackedHourglass) -> None:
    clip = torch.randn(2, 3, 1, 37, 50)
    outputs = net(clip)
    assert len(outputs) == 2
    assert all(o.shape == (2, 3, 3, 37, 50) for o in outputs)
    _, state = net.step(clip[:, 0], None)
    # The state lives at the padded size (40 x 52 for levels=3), halved per level.
    assert [h.shape[-2:] for h in state.hidden[0]] == [(40, 52), (20, 26), (10, 13)]


def test_forward_equals_step(net: StackedHourglass) -> None:
    clip = torch.randn(1, 3, 1, 37, 50)
    with torch.no_grad():
        unrolled = net(clip)
        state: State | None = None
        for t in range(3):
            outputs, state = net.step(clip[:, t], state)
            for stack, output in enumerate(outputs):
                torch.testing.assert_close(output, unrolled[stack][:, t])


def test_state_carries_information_causally(net: StackedHourglass) -> None:
    clip = torch.randn(1, 2, 1, 16, 16)
    changed_first, changed_second = clip.clone(), clip.clone()
    changed_first[:, 0] += 1.0
    changed_second[:, 1] += 1.0
    with torch.no_grad():
        base, first, second = (net(c)[-1] for c in (clip, changed_first, changed_second))
    assert not torch.allclose(base[:, 1], first[:, 1])
    torch.testing.assert_close(base[:, 0], second[:, 0])


def test_backward_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    net = StackedHourglass(**TINY)
    outputs = net(torch.randn(1, 2, 1, 8, 8))
    sum(o.square().mean() for o in outputs).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
