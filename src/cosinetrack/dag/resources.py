"""What a job may use of the machine it runs on: threads and GPUs, for rules and their jobs."""

from __future__ import annotations

import os


def usable_threads(requested: int) -> int:
    """Cap a thread count at the CPUs this process may use (Snakemake's --cores may exceed it)."""
    return max(1, min(requested, len(os.sched_getaffinity(0))))
