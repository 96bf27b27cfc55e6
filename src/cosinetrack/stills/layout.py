"""The folder layout of a still-image dataset: `{split}/images/*.tif` with `{split}/masks/` beside.

File names only, no pixels (standard library only), so the workflow can check a user's folder
while Snakemake builds the DAG.
"""

from __future__ import annotations

from pathlib import Path

SUFFIXES = (".tif", ".tiff")


def image_paths(root: Path, split: str) -> list[Path]:
    """The images of a split, sorted by name; a missing or empty folder is an error."""
    folder = Path(root) / split / "images"
    if not folder.is_dir():
        raise ValueError(f"{folder}: image folder of split {split} not found; fix the dataset path")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES)
    if not paths:
        raise ValueError(f"{folder}: no .tif images in split {split}")
    return paths


def mask_path(image: Path) -> Path:
    """Where the mask of an image lies: `masks/` beside `images/`, with the same file name."""
    return image.parent.parent / "masks" / image.name


def has_masks(root: Path, split: str) -> bool:
    """Tell whether a split comes with masks (a `masks` folder beside `images`)."""
    return (Path(root) / split / "masks").is_dir()


def check_masks_exist(paths: list[Path]) -> None:
    """Refuse images whose mask file is missing, naming the first one."""
    for image in paths:
        if not mask_path(image).is_file():
            raise ValueError(
                f"{image}: no mask {mask_path(image)}; every image of a split with masks needs "
                f"one with the same file name"
            )


def check_images_dataset(
    name: str, root: Path, train: list[str], validation: list[str], test: list[str]
) -> None:
    """Fail early, naming the file, on a missing folder or a missing mask of a fitted split."""
    if not Path(root).is_dir():
        raise ValueError(f"datasets.{name}.path: folder {root} not found")
    for split in dict.fromkeys([*train, *validation, *test]):
        paths = image_paths(root, split)
        if split in train or split in validation or has_masks(root, split):
            check_masks_exist(paths)
