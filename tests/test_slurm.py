"""The tiny workflow through a real single-node SLURM, submitted with the profile profiles/slurm.

The module starts munge, slurmctld and slurmd with tests/slurm/start-slurm.sh (installing the
Debian packages first where they are missing; root only), runs the tiny config of conftest through
`--executor slurm` and locally, and stops the daemons again. The cluster has no accounting
database, so Snakemake polls with squeue; every job stays visible there for MinJobAge = 600 s.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, TINY, ctc_results, snakemake, write_config

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

SCRIPTS = REPO / "tests" / "slurm"
JOBCOMP = Path("/var/log/slurm/jobcomp.log")
# The whole SLURM run takes about 3 minutes; a hung status loop must not eat the CI job.
SLURM_RUN_TIMEOUT = 600

# The test node has as many CPUs as this machine (CI: 2). train and infer ask for 8 threads, which
# sbatch would refuse there; the local reference run gets 2 threads from --cores 2, so both runs
# compute with the same number of threads.
THREADS = min(2, len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else 1

# README.md, "Run on a cluster": the command users run, and what the test adds to it.
PROFILE_ARGS = ["--profile", "profiles/slurm"]
TEST_FLAGS = [
    # The test cluster has no slurmdbd, so the plugin's default status command (sacct) fails.
    "--slurm-status-command",
    "squeue",
    # Jobs take seconds; the plugin's first status check would come after 40 s.
    "--slurm-init-seconds-before-status-checks",
    "2",
    # Rules' threads capped to the test node's CPUs (see THREADS).
    "--max-threads",
    str(THREADS),
]


def skip_reason() -> str | None:
    """Why this machine cannot host the test cluster, or None when it can."""
    if not sys.platform.startswith("linux"):
        return "SLURM test needs Linux"
    if os.geteuid() != 0:
        return "SLURM test needs root: it installs and starts munge, slurmctld and slurmd"
    missing = [tool for tool in ("apt-get", "dpkg") if shutil.which(tool) is None]
    if missing:
        return f"SLURM test needs {' and '.join(missing)} to install SLURM (Debian/Ubuntu)"
    return None


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a daemon's log, for failure messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"({path}: {error})"


@pytest.fixture(scope="module")
def slurm() -> Iterator[None]:
    """A single-node SLURM with one fake GPU, stopped again after the module's tests."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    start = time.monotonic()
    started = subprocess.run(
        [str(SCRIPTS / "start-slurm.sh")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    try:
        # Status 3: a SLURM was already running; the script left it alone and so do we.
        assert started.returncode == 0, started.stdout[-3000:]
        print(f"SLURM started in {time.monotonic() - start:.0f} s")
        yield
    finally:
        if started.returncode != 3:
            subprocess.run([str(SCRIPTS / "stop-slurm.sh")], timeout=120, check=False)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny config run locally: the reference for the SLURM run."""
    workdir = tmp_path_factory.mktemp("local")
    start = time.monotonic()
    result = snakemake(workdir, "--configfile", str(write_config(workdir, TINY)))
    assert result.returncode == 0, result.stdout[-3000:]
    print(f"local run: {time.monotonic() - start:.0f} s")
    (workdir / "snakemake.out").write_text(result.stdout)
    return workdir


@pytest.fixture(scope="module")
def slurm_run(slurm: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny config run through SLURM with the repository's profile (the README's command)."""
    workdir = tmp_path_factory.mktemp("slurm")
    command = [sys.executable, "-m", "snakemake", *PROFILE_ARGS, *TEST_FLAGS]
    # The test's way to run the repository's workflow on the tiny config in a temporary folder.
    command += ["-s", "Snakefile", "--directory", str(workdir)]
    command += ["--configfile", str(write_config(workdir, TINY))]
    start = time.monotonic()
    # timeout(1) as well: Snakemake may ignore SIGTERM while it polls, -k follows with SIGKILL.
    result = subprocess.run(
        ["timeout", "-k", "10", str(SLURM_RUN_TIMEOUT), *command],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=SLURM_RUN_TIMEOUT + 30,
    )
    (workdir / "snakemake.out").write_text(result.stdout)
    assert result.returncode == 0, (
        f"{result.stdout[-4000:]}\n--- slurmctld.log\n{tail(Path('/var/log/slurm/slurmctld.log'))}"
    )
    print(f"SLURM run: {time.monotonic() - start:.0f} s")
    return workdir


def slurm_jobs(workdir: Path) -> dict[str, dict[str, str]]:
    """The SLURM jobs that ran in `workdir`, by job id: scontrol's fields of each."""
    shown = subprocess.run(
        ["scontrol", "--oneliner", "show", "job"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    jobs = {}
    for line in shown.splitlines():
        fields = dict(re.findall(r"(\S+?)=(\S*)", line))
        if fields.get("WorkDir") and Path(fields["WorkDir"]).resolve() == workdir.resolve():
            jobs[fields["JobId"]] = fields
    return jobs


def rule_of(job: dict[str, str]) -> str:
    """The rule a job ran: the plugin puts `rule_<name>_wildcards_<values>` into the comment."""
    return job["Comment"].removeprefix("rule_").split("_wildcards_")[0]


def test_every_job_went_through_sbatch(slurm_run: Path, local_run: Path) -> None:
    output = (slurm_run / "snakemake.out").read_text()
    submitted = set(re.findall(r"has been submitted with SLURM jobid (\d+)", output))
    jobs = slurm_jobs(slurm_run)
    assert submitted and set(jobs) == submitted
    assert {job["JobState"] for job in jobs.values()} == {"COMPLETED"}
    # Every rule that ran locally (except the target rule `all`) ran as SLURM jobs, as often.
    local = re.findall(r"^localrule (\w+):$", (local_run / "snakemake.out").read_text(), re.M)
    local.remove("all")
    assert sorted(rule_of(job) for job in jobs.values()) == sorted(local)
    # slurmctld's own record of finished jobs agrees: each one completed with exit code 0.
    completed = set(
        re.findall(r"^JobId=(\d+) .*JobState=COMPLETED .*ExitCode=0:0", JOBCOMP.read_text(), re.M)
    )
    assert submitted <= completed


def test_rule_resources_reach_sbatch(slurm_run: Path) -> None:
    jobs = list(slurm_jobs(slurm_run).values())
    gpu_rules = {rule_of(job) for job in jobs if "gpu:1" in job.get("TresPerJob", "")}
    assert gpu_rules == {"train", "infer"}  # the profile's set-resources, on the fake GPU
    train = next(job for job in jobs if rule_of(job) == "train")
    assert train["MinMemoryNode"] == "8000M" and train["TimeLimit"] == "04:00:00"
    assert train["NumCPUs"] == str(THREADS)  # threads 8, capped by --max-threads
    preprocess = next(job for job in jobs if rule_of(job) == "preprocess")
    assert preprocess["MinMemoryNode"] == "2000M"  # the profile's default-resources
    assert preprocess["TimeLimit"] == "00:30:00"


def test_results_identical_to_local_run(slurm_run: Path, local_run: Path) -> None:
    local = ctc_results(local_run)
    assert {str(Path(name).parent) for name in local} == {
        "results/tiny/cosine/02_RES",
        "results/tiny/baseline/02_RES",
    }
    cluster = ctc_results(slurm_run)
    assert cluster.keys() == local.keys()
    assert [name for name in local if local[name] != cluster[name]] == []
