"""Network throughput: inference GFLOP/s and training clips/s, beside the machine's matmul rate.

Run: .venv/bin/python benchmarks/network.py [--threads 2] [--compile] [--out CSV]

For the default (config.yaml) and the reference (config/reference.yaml) architectures it measures
  - forward FLOPs per frame (counted by torch.utils.flop_counter, multiply-add = 2 FLOPs),
  - streaming inference seconds per frame (state carried, channels-last, inference mode),
  - with --compile, the same for the step compiled by TorchInductor with frozen weights (one fused
    graph: convolutions with their ReLU, the GRU gates and concatenations fused; compiled once per
    frame size, about a minute on 2 cores, cached across processes),
  - training seconds per step, clips per second and GFLOP/s (forward + loss + backward + Adam,
    FLOPs counted by the same counter) at the configured crop and clip length, in float32 and,
    where the CPU computes bfloat16 natively, under the bfloat16 autocast training uses,
and the dense float32 matmul rate of this machine as the yardstick.
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Callable
from pathlib import Path

import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from cosinetrack.config.sections import ModelConfig, TrainConfig
from cosinetrack.model import StackedHourglass, State
from cosinetrack.model.device import autocast_bfloat16
from cosinetrack.model.loss import stacked_loss

REPO = Path(__file__).resolve().parents[1]


def matmul_gflops(size: int = 2048, repeats: int = 10) -> float:
    """Dense float32 matmul rate of this machine (best of `repeats`): the ceiling of a network."""
    a, b, c = torch.randn(size, size), torch.randn(size, size), torch.empty(size, size)
    torch.mm(a, b, out=c)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=c)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def forward_flops(network: StackedHourglass, height: int, width: int) -> float:
    """FLOPs of one streaming step on a frame of the given size."""
    frame = torch.randn(1, 1, height, width)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        network.step(frame, None)
    return float(counter.get_total_flops())


def inference_seconds(network: StackedHourglass, height: int, width: int, frames: int) -> float:
    """Seconds per frame of streaming inference, the recurrent state carried between frames."""
    network = network.to(memory_format=torch.channels_last).eval()
    frame = torch.randn(1, 1, height, width).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        _, state = network.step(frame, None)
        start = time.perf_counter()
        for _ in range(frames):
            _, state = network.step(frame, state)
    return (time.perf_counter() - start) / frames


Step = Callable[..., tuple[torch.Tensor, ...]]


def compiled_step(network: StackedHourglass) -> Step:
    """The streaming step as one graph compiled by TorchInductor with frozen (constant) weights.

    The returned function maps (frame, *hidden) to (last stack's raw embedding, *new hidden), the
    hidden states flattened stack by stack, level by level; zeros are the zero memory.
    """
    import torch._inductor.config as inductor

    inductor.freezing = True  # weights become constants: conv + ReLU fuse, weights prepacked
    levels = network.levels

    def step(frame: torch.Tensor, *hidden: torch.Tensor) -> tuple[torch.Tensor, ...]:
        stacks = [list(hidden[k : k + levels]) for k in range(0, len(hidden), levels)]
        outputs, state = network.step(frame, State(stacks))
        return (outputs[-1], *[h for per_stack in state.hidden for h in per_stack])

    return torch.compile(step, dynamic=False)


def compiled_inference_seconds(
    network: StackedHourglass, height: int, width: int, frames: int
) -> tuple[float, float]:
    """(seconds per frame, seconds of the first call, compilation included) of the compiled step."""
    network = network.to(memory_format=torch.channels_last).eval()
    frame = torch.randn(1, 1, height, width).contiguous(memory_format=torch.channels_last)
    step = compiled_step(network)
    with torch.inference_mode():
        _, state = network.step(frame, None)
        hidden = [torch.zeros_like(h) for per_stack in state.hidden for h in per_stack]
        start = time.perf_counter()
        hidden = step(frame, *hidden)[1:]
        first = time.perf_counter() - start
        hidden = step(frame, *hidden)[1:]
        start = time.perf_counter()
        for _ in range(frames):
            hidden = step(frame, *hidden)[1:]
    return (time.perf_counter() - start) / frames, first


def training_step(model: ModelConfig, train: TrainConfig, bfloat16: bool) -> Callable[[], None]:
    """One optimiser step on a random clip with random instances, as the Trainer takes it."""
    network = StackedHourglass.from_config(model)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)
    shape = (train.batch_size, train.clip_frames, train.crop, train.crop)
    clip = torch.randn(*shape[:2], 1, *shape[2:])
    instances = torch.randint(0, 9, shape)
    neighbours = torch.ones(train.batch_size, 9, 9, dtype=torch.bool)
    background = instances == 0

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            outputs = network(clip)
        terms = stacked_loss(outputs, instances, neighbours, background)
        optimizer.zero_grad()
        terms.total.backward()
        optimizer.step()

    return step


def training_rate(
    model: ModelConfig, train: TrainConfig, steps: int, bfloat16: bool
) -> tuple[float, float]:
    """(seconds per training step, FLOPs per step: forward, backward and loss) on the CPU."""
    step = training_step(model, train, bfloat16)
    with FlopCounterMode(display=False) as counter:
        step()
    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps, float(counter.get_total_flops())


def configs() -> dict[str, tuple[ModelConfig, TrainConfig]]:
    """The default and reference architectures and training clips, from the config files."""
    found = {}
    for name, path in (("default", "config.yaml"), ("reference", "config/reference.yaml")):
        raw = yaml.safe_load((REPO / path).read_text())
        found[name] = (ModelConfig(**raw.get("model", {})), TrainConfig(**raw.get("train", {})))
    return found


def main() -> None:
    """Measure and print/write one row per architecture."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=256, help="inference frame side in pixels")
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="also time the compiled step")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/out/network.csv")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    peak = matmul_gflops()
    rows = []
    for name, (model, train) in configs().items():
        network = StackedHourglass.from_config(model)
        flops = forward_flops(network, args.size, args.size)
        seconds = inference_seconds(network, args.size, args.size, args.frames)
        step, train_flops = training_rate(model, train, args.steps, bfloat16=False)
        mixed = {}
        if autocast_bfloat16(torch.device("cpu"), train.mixed_precision):
            bf16, _ = training_rate(model, train, args.steps, bfloat16=True)
            mixed = {
                "train_bf16_s_per_step": round(bf16, 3),
                "train_bf16_gflops": round(train_flops / bf16 / 1e9, 1),
                "train_bf16_speedup": round(step / bf16, 2),
            }
        compiled = {}
        if args.compile:
            fused, first = compiled_inference_seconds(network, args.size, args.size, args.frames)
            compiled = {
                "compiled_s_per_frame": round(fused, 4),
                "compiled_gflops": round(flops / fused / 1e9, 1),
                "compiled_fraction_of_matmul": round(flops / fused / 1e9 / peak, 3),
                "compile_s": round(first, 1),
            }
        rows.append(
            {
                "model": name,
                "levels": model.levels,
                "filters": model.filters,
                "embedding_dim": model.embedding_dim,
                "parameters": sum(p.numel() for p in network.parameters()),
                "frame": f"{args.size}x{args.size}",
                "gflop_per_frame": round(flops / 1e9, 2),
                "infer_s_per_frame": round(seconds, 4),
                "infer_gflops": round(flops / seconds / 1e9, 1),
                "matmul_gflops": round(peak, 1),
                "infer_fraction_of_matmul": round(flops / seconds / 1e9 / peak, 3),
                **compiled,
                "train_batch": train.batch_size,
                "train_clip": f"{train.clip_frames}x{train.crop}x{train.crop}",
                "train_gflop_per_step": round(train_flops / 1e9, 1),
                "train_s_per_step": round(step, 3),
                "train_clips_per_s": round(train.batch_size / step, 3),
                "train_gflops": round(train_flops / step / 1e9, 1),
                "train_fraction_of_matmul": round(train_flops / step / 1e9 / peak, 3),
                **mixed,
                "threads": args.threads,
            }
        )
        print(rows[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
