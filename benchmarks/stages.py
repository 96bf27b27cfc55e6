"""Stage-by-stage benchmark: time, throughput and peak memory of every stage of the workflow.

Run (the model folder holds model.pt; about 4 minutes on 2 cores without --workflow):

    .venv/bin/python benchmarks/stages.py --model results/sim/model [--workflow] [--compile]

On a standard simulated sequence (512x512 pixels, radius 21: about 60 nuclei at the default density,
`--frames` frames; `--size H --width W --radius R --density D` for another, e.g. `--size 700 --width
1100 --radius 14 --density 0.136` for about 170 nuclei of 28 px in 1100x700) every stage runs in a
fresh subprocess with the settings of the config file (`--config`, default config.yaml; `--set
section.key=value` overrides one): simulate, preprocess, infer, cluster (as the workflow runs it on
a long sequence: the pairs cut into `--threads` chunks, single-thread jobs that run at once, then
gathered), link, and the baseline for reference. Each row gives the stage's wall time per frame (per
frame pair for cluster), the peak resident memory of its process (`os.wait4`), and

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
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from stage_jobs import run_cluster_jobs, run_worker, worker
from stage_targets import targets

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
    from cosinetrack.config.settings import read_settings

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
    from cosinetrack.config import sections as config

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
    rows += rule_rows(sorted(folder.glob("results/**/benchmarks/**/*.tsv")), cores)
    for line in rows:
        print(format_row(line), flush=True)
    return rows


def rule_rows(benchmark_files: list[Path], cores: int) -> list[dict[str, Any]]:
    """Rows `workflow:{rule}` from Snakemake benchmark files: seconds summed, jobs, largest RSS.

    The files are read by the report's runtimes reader (the workflow's own `runtimes` rule); a
    rule without any RSS reading gets 0.
    """
    from cosinetrack.report import runtime_rows

    runtimes = runtime_rows(benchmark_files)
    per_rule = runtimes.groupby("rule", sort=True).agg(
        jobs=("job", "size"), seconds=("seconds", "sum"), rss=("max_rss_mb", "max")
    )
    per_rule["rss"] = per_rule["rss"].fillna(0.0).clip(lower=0.0)
    rows = []
    for rule, entry in per_rule.iterrows():
        result = {
            "unit": "job",
            "items": int(entry["jobs"]),
            "seconds": float(entry["seconds"]),
            "peak_rss_mb": float(entry["rss"]),
        }
        rows.append(row("workflow", 0, f"workflow:{rule}", result, cores))
    return rows


def format_row(line: dict[str, Any]) -> str:
    """One printed line per CSV row: the columns that are set."""
    return "  ".join(f"{key}={line[key]}" for key in COLUMNS if line.get(key) not in (None, ""))


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
    parser.add_argument("--size", type=int, default=512, help="height of the standard sequence")
    parser.add_argument("--width", type=int, default=None, help="its width (default: --size)")
    parser.add_argument("--radius", type=float, default=21.0, help="nucleus radius (about 60)")
    parser.add_argument("--density", type=float, default=None, help="nuclei area fraction")
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
        width = args.width or args.size
        standard = f"{args.size}x{width}x{args.frames}"
        sim = {
            "height": args.size,
            "width": width,
            "frames": args.frames,
            "radius": args.radius,
            "sequences": 1,
            "seed": args.seed,
            **({"density": args.density} if args.density else {}),
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
