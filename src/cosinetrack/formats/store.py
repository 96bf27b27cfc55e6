"""Zarr stores that hand sequences from one stage to the next, chunked one frame per chunk.

Per-frame chunks let every stage stream a sequence of any length in bounded memory and let cluster
jobs each take a slice of frame pairs. Stores are written under a temporary name and renamed when
complete, so a failed stage never leaves a store that looks finished.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr


def frame_array(
    group: zarr.Group, name: str, shape: tuple[int, ...], dtype: np.dtype | str
) -> zarr.Array:
    """Create an array whose first axis is time, with one chunk per frame."""
    return group.create_array(name, shape=shape, chunks=(1, *shape[1:]), dtype=dtype, fill_value=0)


def open_store(path: Path, what: str) -> zarr.Group:
    """Open a finished store for reading, with an error that says which store is missing."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: {what} store not found")
    try:
        if path.is_file():  # a store packed by atomic_zip
            return zarr.open_group(zarr.storage.ZipStore(path, mode="r"), mode="r")
        return zarr.open_group(path, mode="r")
    except Exception as error:
        raise ValueError(f"{path}: not a readable {what} Zarr store ({error})") from error
