"""Logging set-up for the entry points (rule scripts and CLI); library modules only get loggers."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def log_to(path: str | Path | None) -> Iterator[None]:
    """Send logging and stderr (tqdm progress, warnings) to a rule's log file for the body."""
    if path is None:
        logging.basicConfig(level=logging.INFO, format=FORMAT, force=True)
        yield
        return
    with open(path, "w", buffering=1) as stream:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter(FORMAT))
        root = logging.getLogger()
        root.handlers, root.level = [handler], logging.INFO
        logging.captureWarnings(True)
        with contextlib.redirect_stderr(stream):
            try:
                yield
            except Exception:
                logging.getLogger("cosinetrack").exception("stage failed")
                raise
