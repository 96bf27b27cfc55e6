"""Performance targets of benchmarks/stages.py, checked on the rows of one run."""

from __future__ import annotations

from typing import Any


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
