"""Stage-by-stage benchmark: time, throughput and peak memory of every stage of the workflow.

Run (the model folder holds model.pt; about 4 minutes on 2 cores without --workflow):

    .venv/bin/python benchmarks/stages.py --model results/sim/model [--workflow] [--compile]

On a standard simulated sequence (512x512 pixels, radius 21: about 60 nuclei at the default
density, `--frames` frames) every stage runs in a fresh subprocess with the settings of the config
file (`--config`, default config.yaml; `--set section.key=value` overrides one): simulate,
preprocess, infer, cluster (as the workflow runs it on a long sequence: the pairs cut into
`--threads` chunks, single-thread jobs that run at once, then gathered), link, and the baseline for
reference. Each row gives the stage's wall time per frame (per frame pair for cluster), the peak
resident memory of its process (`os.wait4`), and

  - cluster: foreground points clustered per second (the `points` and `seconds` the stage records),
  - infer: the FLOPs the stage really computes (network steps of all windowed runs of
    `infer.windows` on every tile, counted by torch.utils.flop_counter) per second, beside the
    dense matmul rate of this machine, and the network alone (`network:model`, a streaming step
    without I/O) and the reference-size network (`network:reference`, config/reference.yaml's
    architecture with random weights) at the same frame size; with --compile also the step compiled
    by TorchInductor with frozen weights (`...:compiled`).

Then the same stages (infer, cluster, link) on two sequences of `--memory-frames` frames (default
50 and 200) of `--memory-size` pixels (default 256): their peak memory must not grow with the
length. With --workflow it also times the whole workflow (`snakemake --cores 2` on the config in a
temporary directory, training included; about 15 minutes), total and per rule (rows `workflow:*`).
Rows go to benchmarks/out/stages.csv, the checks of the performance targets to
benchmarks/out/targets.csv; both are printed.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks/out"
SECTIONS = ("preprocess", "infer", "cluster", "link", "baseline")
COLUMNS = [
    "sequence",
    "frames",
    "stage",
    "unit",
    "items",
    "seconds",
    "s_per_unit",
    "points",
    "points_per_s",
    "peak_rss_mb",
    "start_rss_mb",
    "gflop_per_unit",
    "gflops",
    "matmul_gflops",
    "fraction_of_matmul",
    "threads",
    "note",
]
# Modules a stage imports before its clock starts: their import time is not the stage's.
IMPORTS = {
    "simulate": ["cosinetrack.simulate"],
    "preprocess": ["cosinetrack.preprocess"],
    "infer": ["torch", "cosinetrack.infer"],
    "cluster": ["hdbscan", "fast_hdbscan", "sklearn.cluster", "cosinetrack.cluster"],
    "link": ["cosinetrack.link", "ctc_metrics.metrics"],
    "baseline": ["cosinetrack.baseline"],
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
    from cosinetrack.config import SimConfig
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
    from cosinetrack.config import PreprocessConfig
    from cosinetrack.preprocess import run_preprocess

    cfg = PreprocessConfig(**p["preprocess"])
    seconds = timed(lambda: run_preprocess(Path(p["root"]), "01", Path(p["prep"]), cfg))
    return {"unit": "frame", "items": p["frames"], "seconds": seconds, "note": f"scale {cfg.scale}"}


def infer_flops(model_dir: Path, prep: Path, cfg: Any) -> tuple[float, int, str]:
    """FLOPs `run_infer` computes on a prep store: steps of every windowed run times every tile."""
    import zarr
    from network import forward_flops

    from cosinetrack.infer import TiledStream, training_clip, windows
    from cosinetrack.trained import TrainedModel

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

    from cosinetrack.config import InferConfig
    from cosinetrack.infer import run_infer

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

    from cosinetrack.cluster import run_cluster
    from cosinetrack.config import ClusterConfig

    cfg = ClusterConfig(**{**p["cluster"], "chunk_pairs": p["chunk_pairs"]})
    chunk = Path(p["chunk_store"])
    seconds = timed(lambda: run_cluster(Path(p["embeddings"]), chunk, cfg, p["chunk"], 1))
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
    from cosinetrack.config import LinkConfig
    from cosinetrack.link import run_link

    cfg = LinkConfig(**p["link"])
    seconds = timed(lambda: run_link(Path(p["pairs"]), Path(p["prep"]), Path(p["res"]), cfg))
    return {"unit": "frame", "items": p["frames"], "seconds": seconds}


def work_baseline(p: dict[str, Any]) -> dict[str, Any]:
    """The classical baseline on the raw sequence: threshold, watershed, the same linking."""
    from cosinetrack.baseline import run_baseline
    from cosinetrack.config import BaselineConfig, LinkConfig

    base, link = BaselineConfig(**p["baseline"]), LinkConfig(**p["link"])
    seconds = timed(lambda: run_baseline(Path(p["root"]) / "01", Path(p["res"]), base, link))
    return {"unit": "frame", "items": p["frames"], "seconds": seconds}


def work_network(p: dict[str, Any]) -> dict[str, Any]:
    """One architecture's streaming step alone, eager (and compiled), beside the matmul rate."""
    import torch
    from network import compiled_inference_seconds, forward_flops, inference_seconds, matmul_gflops

    from cosinetrack.config import ModelConfig
    from cosinetrack.model import StackedHourglass
    from cosinetrack.trained import TrainedModel

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
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", stage]
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
    from cosinetrack.cluster import chunk_count, run_gather_pairs

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
        "note": f"{payload['cluster']['backend']}/{payload['cluster']['scope']}/knn_graph "
        f"{payload['cluster']['knn_graph']}, {len(results)} jobs of 1 thread at once, "
        f"{points / pairs:.0f} points per pair, gather {gather:.2f} s",
    }


def row(sequence: str, frames: int, stage: str, result: dict[str, Any], threads: int) -> dict:
    """One CSV row from a worker's result."""
    seconds, items = result["seconds"], result["items"]
    out: dict[str, Any] = {
        "sequence": sequence,
        "frames": frames,
        "stage": stage,
        "unit": result["unit"],
        "items": items,
        "seconds": round(seconds, 3),
        "s_per_unit": round(seconds / items, 4),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
        "start_rss_mb": round(result.get("start_rss_mb", 0.0), 1),
        "threads": threads,
        "note": result.get("note", ""),
    }
    if "points" in result:
        out["points"] = result["points"]
        out["points_per_s"] = round(result["points_per_s"])
    if "flops" in result:
        gflops = result["flops"] / seconds / 1e9
        out["gflop_per_unit"] = round(result["flops"] / items / 1e9, 2)
        out["gflops"] = round(gflops, 1)
        out["matmul_gflops"] = round(result["matmul_gflops"], 1)
        out["fraction_of_matmul"] = round(gflops / result["matmul_gflops"], 3)
    if "peak_before_extras_mb" in result:
        # FLOP counting and the matmul probe run after the stage in the same process.
        out["peak_rss_mb"] = round(result["peak_before_extras_mb"], 1)
    return out


def stage_settings(
    path: Path, overrides: list[str], model: Path | None = None
) -> dict[str, dict[str, Any]]:
    """The stage sections as the workflow runs them with `model`, then config and `--set` keys.

    The model folder's chosen settings (settings.yaml, postprocess.yaml) come first, as in the
    workflow, where a key the config sets wins over them.
    """
    from cosinetrack.adapt import read_settings

    raw = yaml.safe_load(path.read_text()) or {}
    settings: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for name in ("settings.yaml", "postprocess.yaml") if model is not None else ():
        chosen = read_settings(model / name)
        for section in SECTIONS:
            settings[section].update(chosen.get(section) or {})
    for section in SECTIONS:
        settings[section].update(raw.get(section) or {})
    for override in overrides:
        key, _, value = override.partition("=")
        section, _, name = key.partition(".")
        if section not in settings or not name:
            raise SystemExit(f"--set {override}: expected section.key=value, section in {SECTIONS}")
        settings[section][name] = yaml.safe_load(value)
    # Validate now, not in a worker minutes later.
    from cosinetrack import config

    for section, cls in zip(
        SECTIONS,
        (
            config.PreprocessConfig,
            config.InferConfig,
            config.ClusterConfig,
            config.LinkConfig,
            config.BaselineConfig,
        ),
        strict=True,
    ):
        settings[section] = cls(**settings[section]).model_dump(mode="json")
    return settings


def run_sequence(
    name: str,
    sim: dict[str, Any],
    stages: list[str],
    work: Path,
    args: argparse.Namespace,
    settings: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Simulate one sequence and run the given stages on it, each in its own process."""
    folder = work / name
    paths = {
        "root": folder / "data",
        "prep": folder / "prep.zarr",
        "embeddings": folder / "embeddings.zarr",
        "pairs": folder / "pairs.zarr",
        "res": folder / "01_RES",
    }
    payload = {
        **{key: str(value) for key, value in paths.items()},
        **settings,
        "sim": sim,
        "frames": sim["frames"],
        "model": str(args.model),
        "threads": args.threads,
    }
    rows = []
    for stage in ["simulate", "preprocess", *stages]:
        if stage == "baseline":
            payload["res"] = str(folder / "baseline_RES")
        if stage == "cluster":
            result = run_cluster_jobs(payload, folder, args.threads)
        else:
            result = run_worker(stage, payload, folder / "logs" / f"{stage}.log")
        rows.append(row(name, sim["frames"], stage, result, args.threads))
        print(format_row(rows[-1]), flush=True)
    return rows


def network_rows(
    name: str, frames: int, shape: tuple[int, int], args: argparse.Namespace, work: Path
) -> list[dict[str, Any]]:
    """The trained model's and the reference architecture's streaming step alone, at `shape`."""
    reference = yaml.safe_load((REPO / "config/reference.yaml").read_text())["model"]
    rows = []
    for compiled in (False, True) if args.compile else (False,):
        for label, extra in (("model", {"model": str(args.model)}), ("reference", {})):
            payload = {
                **extra,
                "architecture": reference,
                "shape": list(shape),
                "steps": args.steps,
                "compiled": compiled,
                "threads": args.threads,
            }
            stage = f"network:{label}" + (":compiled" if compiled else "")
            log = work / name / "logs" / f"{stage.replace(':', '_')}.log"
            rows.append(row(name, frames, stage, run_worker("network", payload, log), args.threads))
            print(format_row(rows[-1]), flush=True)
    return rows


def run_workflow(config: Path, work: Path, cores: int) -> list[dict[str, Any]]:
    """Run the whole workflow in an empty directory; rows for the total and for every rule."""
    folder = work / "workflow"
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]
    command += ["--directory", str(folder), "--cores", str(cores), "--configfile", str(config)]
    with (work / "workflow.log").open("w") as log:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
    if process.returncode:
        raise RuntimeError(f"the workflow failed; see {work / 'workflow.log'}")
    total = {"unit": "run", "items": 1, "seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024}
    rows = [row("workflow", 0, "workflow:total", total, cores)]
    per_rule: dict[str, dict[str, float]] = {}
    for tsv in sorted(folder.glob("results/**/benchmarks/**/*.tsv")):
        rule = tsv.relative_to(folder).parts
        rule_name = rule[rule.index("benchmarks") + 1].removesuffix(".tsv")
        with tsv.open() as stream:
            record = next(csv.DictReader(stream, delimiter="\t"))
        entry = per_rule.setdefault(rule_name, {"seconds": 0.0, "jobs": 0, "rss": 0.0})
        entry["seconds"] += float(record["s"])
        entry["jobs"] += 1
        rss = record.get("max_rss", "NA")
        entry["rss"] = max(entry["rss"], float(rss) if rss not in ("NA", "-") else 0.0)
    for rule, entry in per_rule.items():
        result = {
            "unit": "job",
            "items": int(entry["jobs"]),
            "seconds": entry["seconds"],
            "peak_rss_mb": entry["rss"],
        }
        rows.append(row("workflow", 0, f"workflow:{rule}", result, cores))
    for line in rows:
        print(format_row(line), flush=True)
    return rows


def format_row(line: dict[str, Any]) -> str:
    """One printed line per CSV row: the columns that are set."""
    return "  ".join(f"{key}={line[key]}" for key in COLUMNS if line.get(key) not in (None, ""))


def find(rows: list[dict[str, Any]], sequence: str, stage: str) -> dict[str, Any] | None:
    """The row of a stage on a sequence, if it was measured."""
    return next((r for r in rows if r["sequence"] == sequence and r["stage"] == stage), None)


def targets(rows: list[dict[str, Any]], standard: str, memory: list[str]) -> list[dict[str, Any]]:
    """The issue's performance targets, measured from this run's rows."""
    checks = []
    infer, cluster, link = (find(rows, standard, s) for s in ("infer", "cluster", "link"))
    step = find(rows, standard, "network:model")
    if infer and cluster and link:
        downstream = cluster["seconds"] + link["seconds"]
        checks.append(
            {
                "target": "(cluster + link) / infer, per frame (infer stage, windows included)",
                "measured": round(downstream / infer["seconds"], 3),
                "limit": "<= 0.5",
                "met": downstream / infer["seconds"] <= 0.5,
            }
        )
        if step:
            per_frame = downstream / infer["frames"]
            checks.append(
                {
                    # a stricter reading: the network's step alone, as if inference ran no windows
                    "target": "(cluster + link) per frame / one network step (model, eager; "
                    "stricter reading)",
                    "measured": round(per_frame / step["s_per_unit"], 3),
                    "limit": "<= 0.5",
                    "met": per_frame / step["s_per_unit"] <= 0.5,
                }
            )
    for stage in ("network:reference", "network:reference:compiled"):
        found = find(rows, standard, stage)
        if found:
            checks.append(
                {
                    "target": f"{stage} GFLOP/s / matmul GFLOP/s",
                    "measured": found["fraction_of_matmul"],
                    "limit": ">= 0.7",
                    "met": found["fraction_of_matmul"] >= 0.7,
                }
            )
    if len(memory) >= 2:
        short, long = memory[0], memory[-1]
        for stage in ("infer", "cluster", "link"):
            a, b = find(rows, short, stage), find(rows, long, stage)
            if a and b:
                checks.append(
                    {
                        "target": f"{stage} peak RSS {long} / {short}",
                        "measured": round(b["peak_rss_mb"] / a["peak_rss_mb"], 3),
                        "limit": "<= 1.1 (flat)",
                        "met": b["peak_rss_mb"] / a["peak_rss_mb"] <= 1.1,
                    }
                )
    return checks


def write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Write rows with the given columns (missing values empty)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    """Run the benchmark and write the CSV files."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--worker", nargs=2, metavar=("STAGE", "JSON"), help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help="trained model folder (with model.pt)")
    parser.add_argument("--config", type=Path, default=REPO / "config.yaml", help="workflow config")
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override"
    )
    parser.add_argument("--frames", type=int, default=20, help="frames of the 512x512 sequence")
    parser.add_argument("--size", type=int, default=512, help="side of the standard sequence")
    parser.add_argument("--radius", type=float, default=21.0, help="nucleus radius (about 60)")
    parser.add_argument("--seed", type=int, default=1, help="simulation seed")
    parser.add_argument("--memory-frames", type=int, nargs="*", default=[50, 200])
    parser.add_argument("--memory-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=5, help="network steps timed per row")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also time the compiled network")
    parser.add_argument("--workflow", action="store_true", help="also time the whole workflow")
    parser.add_argument("--workdir", type=Path, default=None, help="keep intermediate data here")
    parser.add_argument("--out", type=Path, default=OUT / "stages.csv")
    parser.add_argument("--targets", type=Path, default=OUT / "targets.csv")
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    if args.model is None or not (args.model / "model.pt").is_file():
        parser.error("--model must name a trained model folder holding model.pt")
    args.model = args.model.resolve()
    settings = stage_settings(args.config, args.set, args.model)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="cosinetrack-bench-"))
    work = work.resolve()
    try:
        rows = []
        standard = f"{args.size}x{args.size}x{args.frames}"
        sim = {
            "height": args.size,
            "width": args.size,
            "frames": args.frames,
            "radius": args.radius,
            "sequences": 1,
            "seed": args.seed,
        }
        stages = ["infer", "cluster", "link", "baseline"]
        rows += run_sequence(standard, sim, stages, work, args, settings)
        prep = zarr_shape(work / standard / "prep.zarr")
        rows += network_rows(standard, args.frames, prep, args, work)
        memory = []
        for frames in args.memory_frames:
            name = f"{args.memory_size}x{args.memory_size}x{frames}"
            size = {"height": args.memory_size, "width": args.memory_size, "frames": frames}
            short = {**{k: v for k, v in sim.items() if k != "radius"}, **size}  # default radius
            rows += run_sequence(name, short, ["infer", "cluster", "link"], work, args, settings)
            memory.append(name)
            shutil.rmtree(work / name / "data", ignore_errors=True)
        if args.workflow:
            rows += run_workflow(args.config.resolve(), work, args.threads)
        write_csv(args.out, rows, COLUMNS)
        checks = targets(rows, standard, memory)
        write_csv(args.targets, checks, ["target", "measured", "limit", "met"])
        print(f"\nwrote {args.out} and {args.targets}")
        for check in checks:
            print(f"  {check['target']}: {check['measured']} ({check['limit']}): {check['met']}")
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def zarr_shape(prep: Path) -> tuple[int, int]:
    """The (height, width) of the frames in a prep store (the network's working size)."""
    import zarr

    _, height, width = zarr.open_group(prep, mode="r")["image"].shape  # (T, H, W)
    return height, width


if __name__ == "__main__":
    main()
