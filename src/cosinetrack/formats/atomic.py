"""Writes that are all or nothing: a file, folder or packed store appears only when complete.

Everything is written under a temporary sibling name and renamed on success, so a killed job
never leaves an output that looks finished. Standard library only: configuration imports it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path` to write into; rename it to `path` only on success."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(path, ignore_errors=True)
    partial.rename(path)


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of the file `path` to write; move it to `path` only on success."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    partial.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


@contextlib.contextmanager
def scratch_folder(path: Path) -> Iterator[Path]:
    """Yield an empty working folder at `path`, removed when done.

    A fixed name rather than tempfile's random one: a job killed before it could clean up leaves
    its folder behind, and the rerun of the same job clears it instead of adding another.
    """
    path = Path(path)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def atomic_zip(path: Path) -> Iterator[Path]:
    """Yield a temporary folder to write a store into; pack it into the single file `path`.

    The zip is uncompressed (Zarr's chunks are compressed already) and moved into place only on
    success. A store that is one file is also removed in one step: Snakemake deletes temporary
    folder outputs file by file, and a run killed midway left a folder that looked present.
    """
    path = Path(path)
    with scratch_folder(path.with_name(path.name + ".folder")) as folder:
        yield folder
        with atomic_file(path) as partial, zipfile.ZipFile(partial, "w") as archive:
            for item in sorted(folder.rglob("*")):
                if item.is_file():
                    archive.write(item, item.relative_to(folder).as_posix())
