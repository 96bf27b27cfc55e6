"""Stage jobs of benchmarks/stages.py: each stage measured in a fresh process of its own.

The parent side starts `python benchmarks/stage_jobs.py STAGE JSON` per stage and reads the
measurements from the last line of its output (JSON) and its peak memory from `os.wait4`; the
worker side imports the stage's modules before the clock starts, runs the stage once and prints.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Modules a stage imports before its clock starts: their import time is not the stage's.
IMPORTS = {
    "simulate": ["cosinetrack.simulate"],
    "preprocess": ["cosinetrack.stages.preprocess"],
    "infer": ["torch", "cosinetrack.stages.infer"],
    "cluster": ["cosinetrack.stages.cluster"],
    "link": ["cosinetrack.stages.link", "ctc_metrics.metrics"],
    "baseline": ["cosinetrack.stages.baseline"],
    "network": ["torch", "cosinetrack.model"],
}


# --- Worker side: one stage in this process ------------------------------------------------------


def rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(call: Callable[[], Any]) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def work_simulate(p: dict[str, Any]) -> dict[str, Any]:
    """Simulate one sequence (01) in CTC layout."""
    from cosinetrack.config.sections import SimConfig
    from cosinetrack.simulate import run_simulate

    cfg = SimConfig(**p["sim"])
    seconds = timed(lambda: run_simulate(Path(p["root"]), cfg))
    record = json.loads((Path(p["root"]) / "simulation.json").read_text())
    nuclei = record["sequences"]["01"]["nuclei_per_frame"]
    return {
        "unit": "frame",
        "items": cfg.frames,
        "seconds": seconds,
        "note": f"{nuclei:.1f} nuclei",
    }


def work_preprocess(p: dict[str, Any]) -> dict[str, Any]:
    """Normalise and resize the sequence into the prep store."""
    from cosinetrack.config.sections import PreprocessConfig
    from cosinetrack.stages.preprocess import run_preprocess

    cfg = PreprocessConfig(**p["preprocess"])
    seconds = timed(lambda: run_preprocess(Path(p["root"]), "01", Path(p["prep"]), cfg))
    return {"unit": "frame", "items": p["frames"], "seconds": seconds, "note": f"scale {cfg.scale}"}


def infer_flops(model_dir: Path, prep: Path, cfg: Any) -> tuple[float, int, str]:
    """FLOPs `run_infer` computes on a prep store: steps of every windowed run times every tile."""
    import zarr
    from network import forward_flops

    from cosinetrack.model.folder import TrainedModel
    from cosinetrack.stages.infer import TiledStream, training_clip, windows

    model = TrainedModel.from_folder(model_dir, "cpu")
    frames, height, width = zarr.open_group(prep, mode="r")["image"].shape
    window = training_clip(model) if cfg.window is None else cfg.window
    runs = windows(frames, window)
    steps = sum(run.last - run.first + 1 for run in runs)
    grid = TiledStream(model.network, (height, width), cfg)
    tiles = [(r.stop - r.start, c.stop - c.start) for r in grid.rows for c in grid.cols]
    per_step = sum(forward_flops(model.network, h, w) for h, w in tiles)
    note = f"{height}x{width}, window {window}: {len(runs)} runs, {steps} steps, {len(tiles)} tiles"
    return per_step * steps, steps, note


def work_infer(p: dict[str, Any]) -> dict[str, Any]:
    """Embed every frame pair; count the FLOPs that took and measure the matmul rate."""
    import torch
    from network import matmul_gflops

    from cosinetrack.config.sections import InferConfig
    from cosinetrack.stages.infer import run_infer

    cfg = InferConfig(**p["infer"])
    model, prep = Path(p["model"]), Path(p["prep"])
    seconds = timed(lambda: run_infer(prep, model, Path(p["embeddings"]), cfg, p["threads"]))
    peak = rss_mb()
    flops, _, note = infer_flops(model, prep, cfg)
    torch.set_num_threads(p["threads"])
    return {
        "unit": "frame",
        "items": p["frames"],
        "seconds": seconds,
        "flops": flops,
        "matmul_gflops": matmul_gflops(),
        "peak_before_extras_mb": peak,
        "note": note,
    }


def work_cluster(p: dict[str, Any]) -> dict[str, Any]:
    """Cluster one chunk of pairs as one single-thread job; points and seconds from its store."""
    import zarr

    from cosinetrack.config.sections import ClusterConfig
    from cosinetrack.stages.cluster import run_cluster

    cfg = ClusterConfig(**{**p["cluster"], "chunk_pairs": p["chunk_pairs"]})
    chunk = Path(p["chunk_store"])
    seconds = timed(lambda: run_cluster(Path(p["embeddings"]), chunk, cfg, p["chunk"]))
    attrs = zarr.open_group(chunk, mode="r").attrs
    return {
        "unit": "pair",
        "items": attrs["pairs"],
        "seconds": seconds,
        "points": sum(attrs["points"]),
        "pair_seconds": sum(attrs["seconds"]),
    }


def work_link(p: dict[str, Any]) -> dict[str, Any]:
    """Link the pair labels into the CTC result (masks resized to the original frames)."""
    from cosinetrack.config.sections import LinkConfig
    from cosinetrack.stages.link import run_link

    cfg = LinkConfig(**p["link"])
    seconds = timed(lambda: run_link(Path(p["pairs"]), Path(p["prep"]), Path(p["res"]), cfg))
    return {"unit": "frame", "items": p["frames"], "seconds": seconds}


def work_baseline(p: dict[str, Any]) -> dict[str, Any]:
    """The classical baseline on the raw sequence: threshold, watershed, the same linking."""
    from cosinetrack.config.sections import BaselineConfig, LinkConfig
    from cosinetrack.stages.baseline import run_baseline

    base, link = BaselineConfig(**p["baseline"]), LinkConfig(**p["link"])
    seconds = timed(lambda: run_baseline(Path(p["root"]) / "01", Path(p["res"]), base, link))
    return {"unit": "frame", "items": p["frames"], "seconds": seconds}


def work_network(p: dict[str, Any]) -> dict[str, Any]:
    """One architecture's streaming step alone, eager (and compiled), beside the matmul rate."""
    import torch
    from network import compiled_inference_seconds, forward_flops, inference_seconds, matmul_gflops

    from cosinetrack.config.sections import ModelConfig
    from cosinetrack.model import StackedHourglass
    from cosinetrack.model.folder import TrainedModel

    torch.set_num_threads(p["threads"])
    if p.get("model"):
        network = TrainedModel.from_folder(Path(p["model"]), "cpu").network
    else:
        network = StackedHourglass.from_config(ModelConfig(**p["architecture"])).eval()
    height, width = p["shape"]
    flops = forward_flops(network, height, width)
    if p["compiled"]:
        seconds, first = compiled_inference_seconds(network, height, width, p["steps"])
        note = f"{height}x{width}, first call (compilation) {first:.0f} s"
    else:
        seconds, note = inference_seconds(network, height, width, p["steps"]), f"{height}x{width}"
    return {
        "unit": "step",
        "items": p["steps"],
        "seconds": seconds * p["steps"],
        "flops": flops * p["steps"],
        "matmul_gflops": matmul_gflops(),
        "note": note,
    }


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "simulate": work_simulate,
    "preprocess": work_preprocess,
    "infer": work_infer,
    "cluster": work_cluster,
    "link": work_link,
    "baseline": work_baseline,
    "network": work_network,
}


def worker(stage: str, payload: str) -> None:
    """Run one stage in this process and print its measurements as the last line (JSON)."""
    for module in IMPORTS[stage]:
        importlib.import_module(module)
    start = rss_mb()
    result = WORKERS[stage](json.loads(payload))
    print(json.dumps({**result, "start_rss_mb": start}), flush=True)


# --- Parent side: runs the workers ----------------------------------------------------------------


def start_worker(stage: str, payload: dict[str, Any], log: Path) -> subprocess.Popen:
    """Start a stage in a fresh subprocess, its stderr to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), stage]
    with log.open("w") as stderr:
        return subprocess.Popen(
            [*command, json.dumps(payload)], stdout=subprocess.PIPE, stderr=stderr, text=True
        )


def finish_worker(stage: str, process: subprocess.Popen, log: Path) -> dict[str, Any]:
    """Wait for a stage's subprocess; its result plus its own peak RSS (MiB, from wait4)."""
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        tail = "".join(log.read_text().splitlines(keepends=True)[-20:])
        raise RuntimeError(f"stage {stage} failed ({process.returncode}); {log}:\n{tail}")
    result = json.loads(output.strip().splitlines()[-1])
    return {**result, "peak_rss_mb": usage.ru_maxrss / 1024}


def run_worker(stage: str, payload: dict[str, Any], log: Path) -> dict[str, Any]:
    """Run a stage in a fresh subprocess and return its measurements."""
    return finish_worker(stage, start_worker(stage, payload, log), log)


def run_cluster_jobs(payload: dict[str, Any], folder: Path, jobs: int) -> dict[str, Any]:
    """Cluster as the workflow does on a long sequence: single-thread chunk jobs, `jobs` at once.

    The pairs are cut into `jobs` chunks that run concurrently, each in its own process (the
    `cluster` rule has one thread; Snakemake runs as many chunks as it has cores). The stage's
    time is the longest job's, its memory the largest job's; the chunks are then gathered.
    """
    from cosinetrack.dag.paths import chunk_count
    from cosinetrack.stages.cluster import run_gather_pairs

    pairs = payload["frames"] - 1
    size = math.ceil(pairs / jobs)
    started = []
    for chunk in range(chunk_count(payload["frames"], size)):
        store = folder / f"pairs.chunk{chunk}.zarr"
        job = {**payload, "chunk": chunk, "chunk_pairs": size, "chunk_store": str(store)}
        log = folder / "logs" / f"cluster{chunk}.log"
        started.append((store, log, start_worker("cluster", job, log)))
    results = [finish_worker("cluster", process, log) for _, log, process in started]
    gather = timed(lambda: run_gather_pairs([s for s, _, _ in started], Path(payload["pairs"])))
    points = sum(r["points"] for r in results)
    return {
        "unit": "pair",
        "items": pairs,
        "seconds": max(r["seconds"] for r in results),
        "points": points,
        # jobs run at once, so their rates add up
        "points_per_s": sum(r["points"] / r["pair_seconds"] for r in results),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "start_rss_mb": max(r["start_rss_mb"] for r in results),
        "note": f"{payload['cluster']['scope']}/knn_graph "
        f"{payload['cluster']['knn_graph']}, {len(results)} jobs of 1 thread at once, "
        f"{points / pairs:.0f} points per pair, gather {gather:.2f} s",
    }


if __name__ == "__main__":
    worker(*sys.argv[1:3])
