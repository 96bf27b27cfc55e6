"""Command line: one subcommand per workflow rule, so every stage runs without Snakemake too.

Each subcommand reads the stage's settings from a workflow config file (`--config`, defaults when
left out) and calls the same `run_<stage>` function the rule script calls.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from cosinetrack.config import WorkflowConfig, json_schema
from cosinetrack.logs import log_to


def load_config(path: Path | None, dataset: str | None = None) -> WorkflowConfig:
    """Read and validate a workflow config file; without one, a simulated dataset with defaults."""
    raw = yaml.safe_load(path.read_text()) if path else {"datasets": {"sim": {"simulate": {}}}}
    return WorkflowConfig.model_validate(raw)


def cmd_schema(args: argparse.Namespace) -> None:
    """Print the JSON schema of config.yaml as YAML (it is committed as the workflow's schema)."""
    text = "# Generated from cosinetrack.config by `cosinetrack schema`; do not edit by hand.\n"
    text += yaml.safe_dump(json_schema(), sort_keys=False, width=100)
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)


def cmd_simulate(args: argparse.Namespace) -> None:
    """Simulate one dataset of the config into a CTC folder."""
    from cosinetrack.simulate import run_simulate

    cfg = load_config(args.config)
    dataset = cfg.datasets[args.dataset]
    if dataset.simulate is None:
        raise SystemExit(f"datasets.{args.dataset} is not a simulated dataset")
    run_simulate(args.out, dataset.simulate)


def cmd_preprocess(args: argparse.Namespace) -> None:
    """Normalise one sequence of a CTC folder into a Zarr store."""
    from cosinetrack.preprocess import run_preprocess

    run_preprocess(args.root, args.sequence, args.out, load_config(args.config).preprocess)


def parser() -> argparse.ArgumentParser:
    """Build the argument parser with one subparser per stage."""
    main = argparse.ArgumentParser(
        prog="cosinetrack",
        description=__doc__.splitlines()[0],
        allow_abbrev=False,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    main.add_argument("--log", type=Path, default=None, help="log file (default: stderr)")
    sub = main.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], None]) -> argparse.ArgumentParser:
        command = sub.add_parser(
            name,
            help=(func.__doc__ or "").splitlines()[0],
            allow_abbrev=False,
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        command.set_defaults(func=func)
        if name != "schema":
            command.add_argument("--config", type=Path, default=None, help="workflow config YAML")
        return command

    schema = add("schema", cmd_schema)
    schema.add_argument("--out", type=Path, default=None, help="write here instead of stdout")
    simulate = add("simulate", cmd_simulate)
    simulate.add_argument("--dataset", default="sim", help="dataset name in the config")
    simulate.add_argument("--out", type=Path, required=True, help="CTC folder to create")
    preprocess = add("preprocess", cmd_preprocess)
    preprocess.add_argument("--root", type=Path, required=True, help="CTC dataset folder")
    preprocess.add_argument("--sequence", required=True, help="sequence name, e.g. 01")
    preprocess.add_argument("--out", type=Path, required=True, help="Zarr store to write")
    return main


def main(argv: list[str] | None = None) -> None:
    """Run the command line."""
    args = parser().parse_args(argv)
    with log_to(args.log):
        args.func(args)
