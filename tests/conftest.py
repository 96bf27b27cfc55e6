"""Shared fixtures: tiny hand-made CTC datasets whose every label and track is known, and the
tiny workflow config that the workflow tests run (locally and through SLURM)."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml

from cosinetrack.formats import ctc

REPO = Path(__file__).resolve().parents[1]

# The real workflow at toy size: a simulated dataset, a 2-level network trained for 3 iterations.
# Training and inference are pinned to the CPU so that every run, on any machine and through any
# executor, gives byte-identical results (tests/test_workflow.py and tests/test_slurm.py check it).
TINY = {
    "datasets": {
        "tiny": {
            "simulate": {"height": 64, "width": 64, "frames": 6, "radius": 6, "seed": 3},
            "train": ["01"],
            "test": ["02"],
        },
    },
    "model": {"levels": 2, "filters": 4, "embedding_dim": 4},
    "train": {"iterations": 3, "crop": 32, "clip_frames": 3, "log_every": 1, "device": "cpu"},
    "infer": {"device": "cpu"},
    "cluster": {"min_cluster_size": 5, "min_samples": 3, "min_instance_size": 3, "chunk_pairs": 2},
}

RESULT_FILE = re.compile(r"^(mask\d{3,4}\.tif|res_track\.txt)$")


def snakemake(workdir: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run the workflow locally in `workdir`; stdout and stderr together in `.stdout`."""
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]
    command += ["--directory", str(workdir), "--cores", "2", *args]
    return subprocess.run(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
    )


def write_config(workdir: Path, config: dict) -> Path:
    """Write a workflow config into `workdir`; return its path."""
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def ctc_results(workdir: Path) -> dict[str, str]:
    """SHA-256 of every CTC result file (masks and track table) of a run, by relative path."""
    return {
        str(path.relative_to(workdir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(workdir.glob("results/**/*_RES/*"))
        if RESULT_FILE.match(path.name)
    }


def disk(shape: tuple[int, int], centre: tuple[float, float], radius: float) -> np.ndarray:
    """Boolean disk mask."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def two_cell_labels(frames: int = 4, shape: tuple[int, int] = (48, 64)) -> np.ndarray:
    """Two disks drifting right: track 1 on every frame, track 2 from frame 1 on."""
    labels = np.zeros((frames, *shape), dtype=np.uint16)
    for t in range(frames):
        labels[t][disk(shape, (14, 12 + 3 * t), 7)] = 1
        if t >= 1:
            labels[t][disk(shape, (34, 20 + 3 * t), 6)] = 2
    return labels


def write_ctc(
    root: Path,
    name: str,
    labels: np.ndarray,
    tracks: np.ndarray,
    seg_frames: tuple[int, ...] = (0,),
    seg_offset: int = 10,
) -> Path:
    """Write raw frames, TRA masks, a track table and SEG masks (labels shifted) in CTC layout."""
    rng = np.random.default_rng(0)
    (root / name).mkdir(parents=True)
    tra = root / f"{name}_GT" / "TRA"
    seg = root / f"{name}_GT" / "SEG"
    tra.mkdir(parents=True)
    seg.mkdir(parents=True)
    for t, frame in enumerate(labels):
        image = 100 + 400 * (frame > 0) + rng.normal(0, 5, frame.shape)
        tifffile.imwrite(root / name / f"t{t:03d}.tif", image.astype(np.uint16))
        tifffile.imwrite(tra / f"man_track{t:03d}.tif", frame.astype(np.uint16))
        if t in seg_frames:
            shifted = np.where(frame > 0, frame + seg_offset, 0).astype(np.uint16)
            tifffile.imwrite(seg / f"man_seg{t:03d}.tif", shifted)
    ctc.write_track_table(tra / "man_track.txt", tracks)
    return root


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the whole workflow once on a simulated and a user's (hand-made) dataset.

    Session-wide: the workflow tests and the Python API's (tests/test_api.py) share the run.
    """
    workdir = tmp_path_factory.mktemp("workflow")
    labels = two_cell_labels(frames=5)
    tracks = np.array([[1, 0, 4, 0], [2, 1, 4, 0]])
    for seq in ("01", "02"):
        write_ctc(workdir / "own", seq, labels, tracks, seg_frames=(0, 2, 4))
    config = {
        **TINY,
        "datasets": {
            **TINY["datasets"],
            "own": {"path": str(workdir / "own"), "train": ["01"], "test": ["02"]},
        },
    }
    result = snakemake(workdir, "--configfile", str(write_config(workdir, config)))
    assert result.returncode == 0, result.stdout[-3000:]
    return workdir


@pytest.fixture
def two_cells(tmp_path: Path) -> Path:
    """A CTC dataset folder with one sequence `01` holding two tracks."""
    labels = two_cell_labels()
    tracks = np.array([[1, 0, 3, 0], [2, 1, 3, 0]])
    return write_ctc(tmp_path / "data", "01", labels, tracks, seg_frames=(0, 2))
