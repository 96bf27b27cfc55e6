"""Every path the workflow writes comes from one template of cosinetrack.dag.paths.

A dry run of the whole workflow (every job forced) on a config with every kind of dataset (a
simulated time-lapse, a user's CTC folder, a folder of still images, a user's own masks with and
without their CTC folder) lists each job's rule,
wildcards, outputs, log and benchmark; each must be the rule's template filled with the job's
wildcards, and the target functions must list exactly the files the jobs write.
"""

from __future__ import annotations

import re
import string

import numpy as np
import pytest
import tifffile
import yaml
from conftest import TINY, snakemake, two_cell_labels, write_config, write_ctc

from cosinetrack.config.file import WorkflowConfig
from cosinetrack.dag import paths
from cosinetrack.dag import targets as wf
from cosinetrack.stills.simulate import simulate_images


def templates() -> set[str]:
    """Every path template the module names: its constants and both fitting layouts."""
    constants = {
        value
        for name, value in vars(paths).items()
        if name.isupper() and isinstance(value, str) and value.startswith(("results", "resources"))
    }
    return constants | set(paths.TIMELAPSE_FIT) | set(paths.IMAGES_FIT)


def fields(template: str) -> set[str]:
    """The wildcards a template names."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def dry_run_jobs(text: str) -> list[dict]:
    """The jobs of a `snakemake -n` listing: rule, outputs, log, benchmark and wildcards."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", text):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        if not rule:
            continue
        entries = dict(re.findall(r"^ {4}(\w+): (.*)$", block, re.MULTILINE))
        wildcards = dict(
            item.split("=", 1) for item in entries.get("wildcards", "").split(", ") if item
        )
        jobs.append(
            {
                "rule": rule.group(1),
                "output": entries["output"].split(", ") if "output" in entries else [],
                "log": entries.get("log"),
                "benchmark": entries.get("benchmark"),
                "wildcards": wildcards,
            }
        )
    return jobs


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], WorkflowConfig]:
    """Every job of a forced dry run on a time-lapse, a user's CTC folder and still images."""
    workdir = tmp_path_factory.mktemp("paths")
    labels = two_cell_labels(frames=5)
    tracks = np.array([[1, 0, 4, 0], [2, 1, 4, 0]])
    for seq in ("01", "02"):
        write_ctc(workdir / "own", seq, labels, tracks, seg_frames=(0, 2, 4))
    simulate_images(workdir / "stills", {"01": 3, "02": 2}, seed=0)
    (workdir / "masks" / "02").mkdir(parents=True)
    for t, frame in enumerate(labels):
        tifffile.imwrite(workdir / "masks" / "02" / f"frame{t}.tif", frame)
    masks = str(workdir / "masks" / "{sequence}")
    config = {
        **TINY,
        "datasets": {
            **TINY["datasets"],
            "own": {"path": str(workdir / "own"), "train": ["01"], "test": ["02"]},
            "pics": {"kind": "images", "path": str(workdir / "stills"), "train": ["01"]}
            | {"test": ["02"]},
            "mask": {"path": str(workdir / "own"), "segmentation": masks, "test": ["02"]},
            "bare": {"segmentation": masks, "test": ["02"]},
            # Another dataset's model, rescaled to the config's object diameter (rule rescale).
            "reuse": {"path": str(workdir / "own"), "model": "results/own/model", "test": ["02"]},
        },
        "adapt": {"object_diameter": 13.0},
    }
    path = write_config(workdir, config)
    result = snakemake(workdir, "--configfile", str(path), "-n", "--forceall", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    cfg = WorkflowConfig.model_validate(yaml.safe_load(path.read_text()))
    return dry_run_jobs(result.stdout), cfg


def test_every_rule_has_its_log_and_benchmark_template(planned) -> None:
    jobs, _ = planned
    rules = {job["rule"] for job in jobs} - {"all"}
    assert rules == set(paths.JOBS)  # a new rule needs a template, and every template a rule
    for job in jobs:
        if job["rule"] == "all":
            continue
        assert job["log"] == paths.log(job["rule"]).format(**job["wildcards"]), job
        untimed = job["rule"] in paths.UNTIMED_JOBS
        expected = None if untimed else paths.benchmark(job["rule"]).format(**job["wildcards"])
        assert job["benchmark"] == expected, job


def test_every_output_is_a_filled_template(planned) -> None:
    jobs, _ = planned
    for job in jobs:
        wildcards = job["wildcards"]
        filled = {
            template.format(**{"method": method, **wildcards})
            for template in templates()
            for method in paths.ALL_METHODS
            if fields(template) <= {*wildcards, "method"}
        }
        assert set(job["output"]) <= filled, job


def test_target_functions_list_what_the_jobs_write(planned) -> None:
    jobs, cfg = planned
    written = {out for job in jobs for out in job["output"]}
    benchmarks = {job["benchmark"] for job in jobs if job["benchmark"]}
    # The runtimes table reads every job's benchmark file: none may be left out.
    assert set(wf.benchmark_files(cfg)) == benchmarks
    assert len(wf.benchmark_files(cfg)) == len(benchmarks)
    assert set(wf.targets(cfg)) <= written
    final = [job for job in jobs if job["rule"] in ("all",)]
    assert len(final) == 1
    results = {out for out in written if out.endswith("_RES")}
    assert results == {
        f"results/{name}/{method}/02_RES"
        for name in ("tiny", "own", "reuse")
        for method in paths.METHODS
    } | {"results/mask/masks/02_RES", "results/bare/masks/02_RES"}
    # Own masks are linked, exported and scored where there is ground truth, nothing else.
    for name, scored in (("mask", {"evaluate"}), ("bare", set())):
        rules = {job["rule"] for job in jobs if job["wildcards"].get("dataset") == name}
        assert rules == {"link_masks", "export"} | scored


def test_fill_leaves_other_wildcards() -> None:
    assert paths.fill(paths.RESULT, method="cosine") == "results/{dataset}/cosine/{seq}_RES"
    assert paths.log("metrics") == "results/logs/metrics.log"
    assert (
        paths.benchmark("cluster") == "results/{dataset}/benchmarks/cluster/{seq}/chunk{chunk}.tsv"
    )
    with pytest.raises(ValueError, match="rule runtimes has no benchmark file"):
        paths.benchmark("runtimes")


def test_chunks_cover_every_pair_once() -> None:
    for frames in (2, 3, 6, 7, 41):
        for size in (1, 2, 5, 20):
            chunks = [
                paths.chunk_pair_range(frames, size, c)
                for c in range(paths.chunk_count(frames, size))
            ]
            assert [t for chunk in chunks for t in chunk] == list(range(frames - 1))
            assert all(chunks)


def test_snakemake_start_imports_no_numerics() -> None:
    """workflow.py is imported at every Snakemake start: no numba, zarr, torch or tifffile."""
    import subprocess
    import sys

    code = "import sys, cosinetrack.dag.targets; print(sorted(set(sys.modules) & {m!r}))".format(
        m={"numba", "zarr", "torch", "tifffile", "skimage", "numpy", "scipy"}
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
