"""Masks a user already has (`segmentation:` of a dataset, `cosinetrack link-masks`).

The user's masks are the ground truth of a small simulated time-lapse with divisions, relabelled
at random in every frame (labels that say nothing about tracks, as Cellpose or StarDist give
them: large, in an int32 image) and saved under names that sort right only with their numbers
compared by value. The real workflow links them, exports and scores them with py-ctcmetrics: the
linking must give back every track and division of the ground truth, so TRA and DET are 1.0.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from conftest import snakemake, two_cell_labels, write_config
from test_link_oracle import gt_table, renamed_table

from cosinetrack import cli
from cosinetrack.config.errors import ConfigError, load_workflow_config
from cosinetrack.config.sections import LinkConfig, SimConfig
from cosinetrack.dag import paths
from cosinetrack.dag import targets as wf
from cosinetrack.formats import ctc, ctc_layout
from cosinetrack.simulate import run_simulate
from cosinetrack.stages.link_masks import compact, run_link_masks

# 12 frames (names t2 and t10 sort wrongly as text), 38 tracks, 6 divisions: about 0.5 s.
SIM = SimConfig(height=96, width=96, frames=12, radius=6, division_rate=0.05, sequences=1, seed=3)


def write_own_masks(gt_dir: Path, out: Path, seed: int = 0) -> Path:
    """Write a GT's TRA masks, relabelled at random per frame, as `img_t{t}_cp_masks.tif`."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True)
    gt = ctc.read_ground_truth(gt_dir, len(list((gt_dir / "TRA").glob("man_track*.tif"))))
    for t, path in enumerate(gt.tra):
        labels = ctc.read_label_frame(path).astype(np.int64)
        ids = np.unique(labels[labels > 0])
        lookup = np.zeros(int(labels.max()) + 1, np.int64)
        lookup[ids] = rng.choice(10**6, len(ids), replace=False) + 1
        tifffile.imwrite(out / f"img_t{t}_cp_masks.tif", lookup[labels].astype(np.int32))
    return out


@pytest.fixture(scope="module")
def masks_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workflow on a dataset given as a CTC folder (frames, GT) with the user's own masks."""
    workdir = tmp_path_factory.mktemp("masks")
    run_simulate(workdir / "data", SIM)
    write_own_masks(workdir / "data" / "01_GT", workdir / "cellpose" / "01_cp")
    dataset = {
        "path": str(workdir / "data"),
        "segmentation": str(workdir / "cellpose" / "{sequence}_cp"),
        "test": ["01"],
    }
    config = write_config(workdir, {"datasets": {"mine": dataset}})
    result = snakemake(workdir, "--configfile", str(config), timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    return workdir


def test_the_workflow_tracks_own_masks_exactly(masks_run: Path) -> None:
    res = masks_run / "results/mine/masks/01_RES"
    gt_dir = masks_run / "data" / "01_GT"
    assert renamed_table(res, gt_dir) == gt_table(gt_dir)  # every track and division
    assert sum(parent > 0 for *_, parent in gt_table(gt_dir)) == 12
    metrics = pd.read_csv(masks_run / "results/metrics.csv", dtype={"sequence": str})
    values = metrics.set_index(["dataset", "sequence", "method", "metric"])["value"]
    for metric in ("TRA", "DET", "SEG", "BC(1)"):
        assert values[("mine", "01", "masks", metric)] == 1.0, metric
    table = pd.read_csv(masks_run / "results/metrics_table.csv")
    assert list(table.columns) == ["dataset", "sequence", "metric", "masks"]
    for template in (paths.GEFF, paths.OBJECTS):
        assert (masks_run / template.format(dataset="mine", method="masks", seq="01")).exists()
    # Linked, exported and scored: nothing trained, segmented or drawn.
    logs = masks_run / "results/mine/logs"
    assert {path.name for path in logs.iterdir()} == {"link_masks", "export", "evaluate"}
    assert not (masks_run / "results/clustering_warm_up.json").exists()


def result_files(res: Path) -> dict[str, str]:
    """SHA-256 of a result folder's masks and track table, by name."""
    pattern = re.compile(r"^(mask\d{3,4}\.tif|res_track\.txt)$")
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(res.iterdir())
        if pattern.match(path.name)
    }


def test_the_command_line_writes_the_same_result(masks_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "01_RES"
    masks, frames = masks_run / "cellpose" / "01_cp", masks_run / "data" / "01"
    config = str(masks_run / "config.yaml")
    given = ["--masks", str(masks), "--frames", str(frames), "--out", str(out)]
    cli.main(["link-masks", "--config", config, *given])
    workflow = result_files(masks_run / "results/mine/masks/01_RES")
    assert len(workflow) == SIM.frames + 1
    assert result_files(out) == workflow


def test_label_images_are_ordered_by_the_numbers_in_their_names(tmp_path: Path) -> None:
    for name in ("m10.tif", "m2.TIFF", "m1.tif", ".m3.tif", "notes.txt", "m02b.tif"):
        (tmp_path / name).write_bytes(b"")
    found = [path.name for path in ctc_layout.label_images(tmp_path)]
    assert found == ["m1.tif", "m2.TIFF", "m02b.tif", "m10.tif"]


def test_any_integer_labels_are_numbered_from_one() -> None:
    labels = np.array([[0, 7, 7], [2**31 - 1, 0, 5]], np.int64)
    assert compact(labels).tolist() == [[0, 2, 2], [3, 0, 1]]
    assert compact(np.array([[9, 4]])).tolist() == [[2, 1]]  # no background at all


MASKS = "/data/masks/{sequence}"


@pytest.mark.parametrize(
    ("dataset", "told"),
    [
        (
            {"segmentation": "/data/{seq}"},
            "datasets.mine.segmentation: '/data/{seq}': only `{sequence}` may stand in braces",
        ),
        (
            {"segmentation": "/data/masks", "test": ["01", "02"]},
            "datasets.mine.segmentation: '/data/masks' has no `{sequence}`, so the test "
            "sequences ['01', '02'] would all read one folder: write e.g. /data/masks/{sequence}",
        ),
        (
            {"segmentation": MASKS, "train": ["01"]},
            "datasets.mine.train: a dataset with `segmentation` is tracked from those masks, "
            "nothing is simulated or trained for it: leave out `train`",
        ),
        ({"segmentation": MASKS, "validation": ["03"]}, "datasets.mine.validation: a dataset"),
        ({"segmentation": MASKS, "model": "results/x/model"}, "datasets.mine.model: a dataset"),
        ({"segmentation": MASKS, "simulate": {}}, "datasets.mine.simulate: a dataset"),
        (
            {"segmentation": MASKS, "kind": "images", "path": "/data"},
            "datasets.mine.kind: `segmentation` gives the masks of a time-lapse",
        ),
    ],
)
def test_config_refusals_name_the_key(dataset: dict, told: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_workflow_config({"datasets": {"mine": dataset}})
    assert str(refused.value).startswith(told)
    assert "\n" not in str(refused.value)


def test_one_test_sequence_needs_no_placeholder_and_no_path() -> None:
    cfg = load_workflow_config({"datasets": {"mine": {"segmentation": "m", "test": ["01"]}}})
    mine = cfg.datasets["mine"]
    assert mine.segmentation_folder("01") == Path("m") and not mine.trains
    assert wf.sequences(mine) == ["01"]  # the default `train: ["01"]` is not used
    assert wf.metric_tables(cfg) == []  # no ground truth to score against
    assert wf.results("mine", mine) == [
        "results/mine/masks/01_RES",
        "results/mine/masks/01.geff.zarr",
        "results/mine/masks/01_objects.csv",
    ]


@pytest.fixture
def own(tmp_path: Path) -> Path:
    """A CTC sequence 02 of 4 frames (48 x 64) and its own masks in masks/02, as given."""
    labels = two_cell_labels(frames=4)
    (tmp_path / "data" / "02").mkdir(parents=True)
    (tmp_path / "masks" / "02").mkdir(parents=True)
    for t, frame in enumerate(labels):
        tifffile.imwrite(tmp_path / "data" / "02" / f"t{t:03d}.tif", frame * 100)
        tifffile.imwrite(tmp_path / "masks" / "02" / f"{t}.tif", frame)
    return tmp_path


def sources_refusal(own: Path) -> str:
    """The message the DAG-time check of the sources refuses the dataset `mine` with."""
    dataset = {"path": str(own / "data"), "segmentation": str(own / "masks" / "{sequence}")}
    cfg = load_workflow_config({"datasets": {"mine": dataset}})
    with pytest.raises(ctc_layout.CtcFormatError) as refused:
        wf.check_sources(cfg)
    return str(refused.value)


def test_a_missing_mask_folder_is_refused_by_the_dry_run(own: Path) -> None:
    (own / "masks" / "02").rename(own / "masks" / "2")
    told = f"datasets.mine.segmentation: folder {own}/masks/02 of sequence 02 not found"
    assert sources_refusal(own) == told
    dataset = {"path": str(own / "data"), "segmentation": str(own / "masks" / "{sequence}")}
    config = write_config(own, {"datasets": {"mine": dataset}})
    result = snakemake(own, "--configfile", str(config), "-n", timeout=120)
    assert result.returncode != 0 and told in result.stdout.splitlines()


def test_a_mask_folder_without_images_is_refused(own: Path) -> None:
    for path in (own / "masks" / "02").iterdir():
        path.rename(path.with_suffix(".png"))
    assert sources_refusal(own) == (
        f"datasets.mine.segmentation: folder {own}/masks/02 of sequence 02 holds no label "
        f"images (*.tif, *.tiff)"
    )


def test_a_mask_per_frame_is_required(own: Path) -> None:
    (own / "masks" / "02" / "3.tif").unlink()
    assert sources_refusal(own) == (
        f"datasets.mine.segmentation: 3 label images in {own}/masks/02, but sequence 02 has 4 "
        f"frames ({own}/data/02); give one label image per frame"
    )
    with pytest.raises(ctc_layout.CtcFormatError, match=r"3 label images, but .* has 4 frames"):
        run_link_masks(own / "masks/02", own / "02_RES", LinkConfig(), own / "data/02")


@pytest.mark.parametrize(
    ("image", "told"),
    [
        (np.zeros((3, 48, 64), np.uint16), r"2\.tif: frame has shape \(3, 48, 64\); only 2-D"),
        (np.zeros((48, 64), np.float32), r"2\.tif: label masks must be integer images, got float"),
        (np.zeros((40, 64), np.uint16), r"2\.tif: shape \(40, 64\) differs from \(48, 64\) of"),
        (np.full((48, 64), -1, np.int16), r"2\.tif: label masks must not hold negative values"),
    ],
)
def test_a_mask_that_is_no_label_image_is_refused_naming_it(
    own: Path, image: np.ndarray, told: str
) -> None:
    tifffile.imwrite(own / "masks" / "02" / "2.tif", image, photometric="minisblack")
    with pytest.raises(ctc_layout.CtcFormatError, match=told):
        run_link_masks(own / "masks/02", own / "02_RES", LinkConfig(), own / "data/02")
    assert not (own / "02_RES").exists()


def test_masks_of_another_size_than_the_frames_are_refused(own: Path) -> None:
    for path in (own / "data" / "02").iterdir():
        tifffile.imwrite(path, np.zeros((48, 60), np.uint16))
    with pytest.raises(ctc_layout.CtcFormatError, match=r"0\.tif: shape \(48, 64\) differs from"):
        run_link_masks(own / "masks/02", own / "02_RES", LinkConfig(), own / "data/02")
