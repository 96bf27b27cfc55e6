"""Fault tests: every stage of the workflow is killed with SIGKILL while it runs, and resuming gives
the same results, byte for byte, as a run that was never interrupted.

One run of the tiny workflow is interrupted once per rule: Snakemake is started, and as soon as a
job of a rule not yet interrupted is running and has written something (its log, or a `.partial`
file or folder of an atomic write), or has just ended, the whole process group (Snakemake and its
jobs) is killed with SIGKILL, as a crashed node would be. The run then resumes as a user would:
`snakemake --unlock`, then the same command again, and `--rerun-incomplete` only when Snakemake
refuses to go on because of outputs it marked incomplete (its own mechanism for jobs that did not
finish). After the last resume, every file under results/ and resources/ is compared with a run
that was never interrupted.

Not compared, because they measure the run rather than the data: the logs and benchmark files of
every job, the runtimes table and plot made from the benchmarks, and wherever it occurs a
wall-clock measurement, the `seconds` column (train_log.csv) or JSON key (clustering_warm_up.json,
the pair store's attributes), and the `date` a provenance record was written (every store's
`provenance` attribute, results/provenance.json and the checkpoints' `provenance`). Everything else
in those files is compared; the checkpoints (`*.pt`) by content, every tensor's bytes and every
other entry, since the date inside makes their pickled bytes differ; and where a store records
the absolute folder it was made from, the two runs' working directories count as the same.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import REPO, TINY, snakemake, write_config

from cosinetrack.dag import paths
from cosinetrack.formats.atomic import scratch_folder

# Every rule of a time-lapse run (the default target's jobs); each is interrupted once.
STAGES = {
    "simulate",
    "adapt",
    "preprocess",
    "train",
    "select",
    "warm_up_clustering",
    "infer",
    "cluster",
    "gather_pairs",
    "link",
    "baseline",
    "export",
    "evaluate",
    "figures",
    "metrics",
    "metrics_table",
    "runtimes",
}
WALL_CLOCK = {"seconds", "date"}  # JSON keys and CSV columns that measure the run itself
NOT_COMPARED = re.compile(r"(^|/)(logs|benchmarks)/|^results/runtimes\.(csv|png)$")


def start(workdir: Path, *args: str) -> subprocess.Popen:
    """Start the workflow in its own process group; its output goes to a numbered file."""
    output = workdir / f"snakemake{len(list(workdir.glob('snakemake*.out')))}.out"
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]
    command += ["--directory", str(workdir), "--cores", "2"]
    command += ["--configfile", str(workdir / "config.yaml"), *args]
    with output.open("w") as stream:
        return subprocess.Popen(
            command, stdout=stream, stderr=subprocess.STDOUT, start_new_session=True
        )


def job_rules(group: int) -> dict[str, set[int]]:
    """Running rule scripts of a process group, by rule (Snakemake runs `tmpXXX.<rule>.py`)."""
    running: dict[str, set[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(fields[2]) != group:
            continue
        for arg in argv:
            match = re.search(rb"\.snakemake/scripts/tmp[^/]*?\.(\w+)\.py$", arg)
            if match:
                running.setdefault(match.group(1).decode(), set()).add(int(proc.name))
    return running


def wrote_something(workdir: Path, rule: str, since: float) -> bool:
    """Whether a job of `rule` has started writing: its log, or a partial output, is new.

    A killed job's partial output stays until its job runs again, so only new ones count. The
    jobs write while this looks, so a file may vanish between listing and reading it.
    """
    logs = [str(p) for p in workdir.glob(re.sub(r"\{\w+\}", "*", paths.log(rule)))]
    partials = [
        os.path.join(folder, name)
        for top in ("results", "resources")
        for folder, dirs, files in os.walk(workdir / top)
        for name in [*dirs, *files]
        if name.endswith(".partial")
    ]
    for path, is_log in [*((p, True) for p in logs), *((p, False) for p in partials)]:
        try:
            info = os.stat(path)
        except FileNotFoundError:
            continue
        if info.st_mtime >= since and (info.st_size or not is_log):
            return True
    return False


def run_until_killed(workdir: Path, remaining: set[str], *args: str) -> tuple[set[str], str, int]:
    """Run the workflow; SIGKILL it once a job of a `remaining` rule is under way.

    Returns the rules killed mid-job, when they were killed ('writing': after it wrote something,
    'ending': as its script ended) and Snakemake's exit status (-9 when killed).
    """
    since = time.time()
    process = start(workdir, *args)
    seen: dict[str, set[int]] = {}
    try:
        while process.poll() is None:
            running = job_rules(process.pid)
            for rule, pids in running.items():
                if rule in remaining:
                    seen.setdefault(rule, set()).update(pids)
            ended = any(not (pids & running.get(rule, set())) for rule, pids in seen.items())
            writing = any(wrote_something(workdir, rule, since) for rule in seen)
            if seen and (writing or ended):
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return set(seen), "writing" if writing else "ending", process.returncode
            time.sleep(0.02)
    finally:
        if process.poll() is None:  # the test failed while it ran: leave nothing running
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return set(), "", process.returncode


def last_output(workdir: Path) -> str:
    return sorted(workdir.glob("snakemake*.out"), key=lambda p: int(p.stem[9:]))[-1].read_text()


def comparable(path: Path, workdir: Path) -> bytes:
    """A file's bytes; for JSON, CSV and torch checkpoints their content without wall-clock fields.

    Stores record the absolute folders they were made from, which differ between the two runs
    only by the working directory: it is replaced by a placeholder.
    """
    if path.suffix == ".json":
        text = path.read_text().replace(str(workdir), "<workdir>")
        return json.dumps(without_wall_clock(json.loads(text)), sort_keys=True).encode()
    if path.suffix == ".csv":
        rows = list(csv.reader(io.StringIO(path.read_text())))
        keep = [i for i, name in enumerate(rows[0] if rows else []) if name not in WALL_CLOCK]
        return "\n".join(",".join(row[i] for i in keep) for row in rows).encode()
    if path.suffix == ".pt":  # the checkpoint's provenance holds the date it was written
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        return (
            repr(canonical(without_wall_clock(checkpoint)))
            .replace(str(workdir), "<workdir>")
            .encode()
        )
    return path.read_bytes()


def without_wall_clock(value: object) -> object:
    if isinstance(value, dict):
        return {k: without_wall_clock(v) for k, v in value.items() if k not in WALL_CLOCK}
    if isinstance(value, list | tuple):
        return [without_wall_clock(v) for v in value]
    return value


def canonical(value: object) -> object:
    """Every tensor as its dtype, shape and raw bytes, so equal checkpoints compare equal."""
    if isinstance(value, torch.Tensor):
        return (str(value.dtype), tuple(value.shape), value.detach().contiguous().numpy().tobytes())
    if isinstance(value, dict):
        return sorted((str(k), canonical(v)) for k, v in value.items())
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def fingerprints(workdir: Path) -> dict[str, str]:
    """SHA-256 of every compared file under results/ and resources/, by relative path."""
    files = [*workdir.glob("results/**/*"), *workdir.glob("resources/**/*")]
    return {
        str(path.relative_to(workdir)): hashlib.sha256(comparable(path, workdir)).hexdigest()
        for path in sorted(files)
        if path.is_file() and not NOT_COMPARED.search(str(path.relative_to(workdir)))
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("uninterrupted")
    write_config(workdir, TINY)
    process = start(workdir)
    assert process.wait(timeout=1200) == 0, last_output(workdir)[-3000:]
    return workdir


@pytest.mark.slow
def test_every_stage_killed_midway_resumes_to_identical_results(
    uninterrupted: Path, tmp_path: Path
) -> None:
    write_config(tmp_path, TINY)
    remaining, kills, refusals = set(STAGES), [], 0
    args: tuple[str, ...] = ()
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        killed, when, status = run_until_killed(tmp_path, remaining, *args)
        if killed:
            kills.append((sorted(killed), when))
            remaining -= killed
            unlock = start(tmp_path, "--unlock")
            assert unlock.wait(timeout=300) == 0, last_output(tmp_path)
            args = ()
            continue
        if status != 0:
            # Snakemake found outputs of a killed job it had marked incomplete and refuses to
            # take them for finished: the resume must ask for them to be made again.
            assert "--rerun-incomplete" in last_output(tmp_path) and not args, last_output(
                tmp_path
            )[-3000:]
            refusals += 1
            args = ("--rerun-incomplete",)
            continue
        break
    else:
        pytest.fail(f"no complete resume within 30 minutes; kills so far: {kills}")
    print(f"kills: {kills}; resumes refused for incomplete outputs: {refusals}")
    assert remaining == set(), f"never caught running: {sorted(remaining)}; kills: {kills}"
    assert not [*tmp_path.glob("results/**/*.partial"), *tmp_path.glob("resources/**/*.partial")]
    expected, got = fingerprints(uninterrupted), fingerprints(tmp_path)
    assert sorted(got) == sorted(expected)
    assert [name for name in expected if expected[name] != got[name]] == []
    dry = snakemake(tmp_path, "--configfile", str(tmp_path / "config.yaml"), "-n")
    assert "Nothing to be done" in dry.stdout, dry.stdout[-2000:]


def test_scratch_folder_left_by_a_killed_job_is_cleared_by_its_rerun(tmp_path: Path) -> None:
    left = tmp_path / ".01_RES.scratch"
    (left / "tracks").mkdir(parents=True)
    (left / "tracks" / "c").write_bytes(b"half")
    with scratch_folder(left) as scratch:
        assert list(scratch.iterdir()) == []
        (scratch / "x").write_bytes(b"new")
    assert list(tmp_path.iterdir()) == []
