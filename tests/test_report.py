from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import two_cell_labels, write_ctc
from PIL import Image

from cosinetrack import report
from cosinetrack.formats import ctc

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def benchmark(path: Path, *rows: tuple[str, str]) -> Path:
    """Write a Snakemake benchmark TSV with the real header; rows give (s, max_rss)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{s}\t0:00:01\t{rss}\t100.0\t10.0\t20.0\t0.1\t0.2\t50.0\t1.5\n" for s, rss in rows]
    path.write_text(HEADER + "".join(lines))
    return path


@pytest.fixture
def sequence_and_result(tmp_path: Path) -> tuple[Path, Path]:
    labels = two_cell_labels(frames=4)  # (4, 48, 64): track 1 on 0..3, track 2 on 1..3
    tracks = np.array([[1, 0, 3, 0], [2, 1, 3, 0]])
    root = write_ctc(tmp_path / "data", "01", labels, tracks)
    ctc.write_result(root / "01_RES", labels, tracks, frames=4)
    return root / "01", root / "01_RES"


def test_palette_is_fixed_per_id_and_distinct_between_ids() -> None:
    # Golden values (hue steps by the golden ratio, brightness by 1 / plastic number): a track
    # keeps its colour across runs, processes and figures.
    assert [report.track_colour(i) for i in (1, 7, 13)] == [
        (35, 94, 236),
        (37, 200, 30),
        (241, 78, 36),
    ]
    colours = [report.track_colour(i) for i in range(1, 201)]
    assert len(set(colours)) == 200
    assert all(len(set(rgb)) > 1 for rgb in colours)  # never grey, so contours stand out
    np.testing.assert_array_equal(report.track_colours([3, 5]), np.array(colours[2:5:2]))


def test_sampled_frames_are_even_and_bounded() -> None:
    assert report.sampled_frames(4, 3) == [0, 2, 3]
    assert report.sampled_frames(3, 40) == [0, 1, 2]
    assert report.sampled_frames(5, 1) == [0]
    many = report.sampled_frames(1000, 40)
    assert len(many) == 40 and len(set(many)) == 40
    assert (many[0], many[-1]) == (0, 999)


def test_overlay_animation_frames_size_and_colours(
    sequence_and_result: tuple[Path, Path], tmp_path: Path
) -> None:
    sequence, result = sequence_and_result
    out = tmp_path / "fig" / "overlay.gif"
    report.overlay_animation(sequence, result, out, max_frames=3, scale=2)
    gif = Image.open(out)
    assert gif.n_frames == 3  # frames 0, 2, 3 of 4
    assert gif.size == (64 * 2, 48 * 2)
    gif.seek(0)
    first = np.asarray(gif.convert("RGB"))
    # Frame 0: track 1 is a disk of radius 7 at (14, 12); (14, 5) is on its left edge.
    for y, x in ((28, 10), (29, 11)):
        assert tuple(first[y, x]) == report.track_colour(1)
    far = first[90, 120]  # (45, 60) unscaled: far from both cells
    assert far[0] == far[1] == far[2]
    assert tuple(first[28, 14]) != report.track_colour(1)  # inside the cell: grey, not contour
    gif.seek(2)
    last = np.asarray(gif.convert("RGB"))
    # Frame 3: track 2 is a disk of radius 6 at (34, 29), (34, 23) on its left edge; track 1
    # has moved to (14, 21), (14, 14) on its left edge.
    assert tuple(last[68, 46]) == report.track_colour(2)
    assert tuple(last[28, 28]) == report.track_colour(1)


def test_overlay_animation_refuses_mismatched_frames(
    sequence_and_result: tuple[Path, Path], tmp_path: Path
) -> None:
    sequence, result = sequence_and_result
    (sequence / "t003.tif").unlink()
    with pytest.raises(ValueError, match=r"has 3 frames but .* has 4 masks"):
        report.overlay_animation(sequence, result, tmp_path / "o.gif")


def test_lineage_order_puts_daughters_after_mother() -> None:
    mother = np.array([[1, 0, 2, 0], [4, 0, 5, 0], [3, 3, 5, 1], [2, 3, 4, 1]])
    assert report.lineage_order(mother) == [1, 2, 3, 4]
    tree = np.array(
        [[5, 0, 9, 0], [1, 2, 9, 0], [2, 0, 1, 0], [3, 2, 9, 2], [4, 2, 5, 2], [6, 6, 9, 4]]
    )
    assert report.lineage_order(tree) == [2, 3, 4, 6, 5, 1]
    assert report.lineage_order(np.zeros((0, 4), dtype=int)) == []


def test_lineage_plot_draws_tracks_in_their_colours(tmp_path: Path) -> None:
    table = tmp_path / "res_track.txt"
    ctc.write_track_table(table, np.array([[1, 0, 4, 0], [2, 5, 9, 1], [3, 5, 8, 1]]))
    out = tmp_path / "fig" / "lineage.png"
    report.lineage_plot(table, out, title="01")
    pixels = np.asarray(Image.open(out).convert("RGB")).reshape(-1, 3)
    found = {tuple(rgb) for rgb in np.unique(pixels, axis=0).tolist()}
    for label in (1, 2, 3):
        assert report.track_colour(label) in found


def test_lineage_plot_of_empty_table(tmp_path: Path) -> None:
    table = tmp_path / "res_track.txt"
    table.write_text("")
    out = tmp_path / "lineage.png"
    report.lineage_plot(table, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_benchmark_job_from_path() -> None:
    assert report.benchmark_job(Path("results/sim/benchmarks/train.tsv")) == ("sim", "train", "")
    assert report.benchmark_job(Path("/x/results/sim/benchmarks/infer/01.tsv")) == (
        "sim",
        "infer",
        "01",
    )
    assert report.benchmark_job(Path("results/d/benchmarks/cluster/02/chunk3.tsv")) == (
        "d",
        "cluster",
        "02/chunk3",
    )
    assert report.benchmark_job(Path("elsewhere/bench.tsv")) == ("", "bench", "")


def test_runtime_table_tidy_rows_and_totals(tmp_path: Path) -> None:
    bench = tmp_path / "results" / "sim" / "benchmarks"
    files = [
        benchmark(bench / "train.tsv", ("120.5", "2048.25")),
        benchmark(bench / "infer" / "02.tsv", ("3.0", "NA")),
        benchmark(bench / "infer" / "01.tsv", ("5.0", "300.0")),
        benchmark(bench / "cluster" / "01" / "chunk0.tsv", ("1.0", "50.0"), ("3.0", "70.0")),
        benchmark(bench / "cluster" / "01" / "chunk1.tsv", ("4.0", "-")),
    ]
    out_csv, out_png = tmp_path / "runtime.csv", tmp_path / "runtime.png"
    report.runtime_table(files, out_csv, out_png)
    expected = pd.DataFrame(
        {
            "dataset": ["sim"] * 5,
            "rule": ["cluster", "cluster", "infer", "infer", "train"],
            "job": ["01/chunk0", "01/chunk1", "01", "02", ""],
            "seconds": [2.0, 4.0, 5.0, 3.0, 120.5],
            "max_rss_mb": [70.0, np.nan, 300.0, np.nan, 2048.25],
        }
    )
    written = pd.read_csv(out_csv, dtype={"dataset": str, "rule": str, "job": str})
    pd.testing.assert_frame_equal(written.fillna({"job": ""}), expected)
    pd.testing.assert_frame_equal(report.runtime_rows(files), expected)
    totals = report.rule_totals(expected)
    assert totals.to_dict("list") == {
        "dataset": ["sim", "sim", "sim"],
        "rule": ["train", "infer", "cluster"],
        "jobs": [1, 2, 2],
        "seconds": [120.5, 8.0, 6.0],
    }
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_runtime_table_refuses_other_tables(tmp_path: Path) -> None:
    other = tmp_path / "results" / "d" / "benchmarks" / "x.tsv"
    other.parent.mkdir(parents=True)
    other.write_text("seconds\tmemory\n1\t2\n")
    with pytest.raises(ValueError, match=r"x\.tsv: not a Snakemake benchmark file, no column 's'"):
        report.runtime_rows([other])


def test_runtime_table_without_files(tmp_path: Path) -> None:
    report.runtime_table([], tmp_path / "r.csv", tmp_path / "r.png")
    assert pd.read_csv(tmp_path / "r.csv").columns.tolist() == report.RUNTIME_COLUMNS
    assert (tmp_path / "r.png").stat().st_size > 0


def test_human_duration() -> None:
    assert report.human_duration(12.34) == "12.3 s"
    assert report.human_duration(245) == "4 min 05 s"
    assert report.human_duration(7380) == "2 h 03 min"


def test_metrics_table_pivots_headline_metrics(tmp_path: Path) -> None:
    rows = [
        ("sim", "02", "cosine", "TRA", 0.91234),
        ("sim", "01", "cosine", "SEG", 0.81234),
        ("sim", "01", "cosine", "TRA", 0.95555),
        ("sim", "01", "cosine", "BC(0)", 0.5),
        ("sim", "01", "cosine", "BC(1)", 0.6004),
        ("sim", "01", "cosine", "DET", 0.9),
        ("sim", "01", "baseline", "DET", 0.7),
        ("sim", "01", "baseline", "SEG", 0.61299),
        ("sim", "01", "baseline", "TRA", 0.65),
        ("sim", "02", "baseline", "TRA", 0.1),
    ]
    tidy = pd.DataFrame(rows, columns=["dataset", "sequence", "method", "metric", "value"])
    tidy.to_csv(tmp_path / "metrics.csv", index=False)
    out_csv, out_html = tmp_path / "t" / "metrics_wide.csv", tmp_path / "t" / "metrics.html"
    report.metrics_table(tmp_path / "metrics.csv", out_csv, out_html)
    expected = pd.DataFrame(
        {
            "dataset": ["sim"] * 5,
            "sequence": ["01", "01", "01", "01", "02"],
            "metric": ["SEG", "DET", "TRA", "BC(1)", "TRA"],
            "cosine": [0.812, 0.9, 0.956, 0.6, 0.912],
            "baseline": [0.613, 0.7, 0.65, np.nan, 0.1],
        }
    )
    written = pd.read_csv(out_csv, dtype={"sequence": str})
    pd.testing.assert_frame_equal(written, expected)
    html = out_html.read_text()
    assert "<table" in html and "0.956" in html and "BC(1)" in html


def test_metrics_table_orders_given_headline() -> None:
    tidy = pd.DataFrame(
        [("d", "01", "m", "TRA", 0.5), ("d", "01", "m", "SEG", 0.25), ("d", "01", "m", "X", 1)],
        columns=["dataset", "sequence", "method", "metric", "value"],
    )
    wide = report.wide_metrics(tidy, headline=("TRA", "SEG"))
    assert wide.to_dict("list") == {
        "dataset": ["d", "d"],
        "sequence": ["01", "01"],
        "metric": ["TRA", "SEG"],
        "m": [0.5, 0.25],
    }
    assert report.wide_metrics(tidy, headline=("CCA",)).empty
