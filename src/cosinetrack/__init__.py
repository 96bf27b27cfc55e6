"""Cell segmentation and tracking with cosine embeddings and recurrent stacked hourglass networks.

Implements Payer et al., "Instance Segmentation and Tracking with Cosine Embeddings and Recurrent
Hourglass Networks" (MICCAI 2018) as a package whose stages a Snakemake workflow calls.
`cosinetrack.track` (`cosinetrack.api`) runs them on a time-lapse in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cosinetrack.api import track

__version__ = "0.1.0"
__all__ = ["track"]


def __getattr__(name: str) -> Any:
    """`track`, imported on first use: `import cosinetrack.dag` stays free of numpy and torch."""
    if name == "track":
        from cosinetrack.api import track

        return track
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
