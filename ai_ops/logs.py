"""Logging for the command line and the daemon: the jobs log through `logging`, this decides where it goes.

Levels: `-q` errors only; default progress lines (INFO) of ai_ops; `-v` ai_ops' debug lines;
`-vv` debug lines of the libraries too (HTTP, Git, the scheduler). Text on a terminal goes through
rich; anything else (a pipe, a CI log) gets plain lines. `--log-format json` writes one JSON object
per line (python-json-logger) for a daemon whose logs a collector parses.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

PACKAGE = "ai_ops"


class PlainFormatter(logging.Formatter):
    """Progress lines as they are; other levels prefixed (`warning: ...`), as a CLI prints them."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        return message if record.levelno == logging.INFO else f"{record.levelname.lower()}: {message}"


def configure(verbosity: int = 0, fmt: str = "text", stderr: bool = False) -> None:
    """Route ai_ops' log records at the level `verbosity` asks for (-1 quiet .. 2 debug all).

    To stdout by default; to stderr with `stderr` (when stdout carries a machine-readable
    result, e.g. `--json`). Calling it again replaces the previous set-up.
    """
    stream: TextIO = sys.stderr if stderr else sys.stdout
    handler: logging.Handler
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                           rename_fields={"asctime": "time", "levelname": "level", "name": "logger"}))
    elif stream.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        handler = RichHandler(console=Console(stderr=stderr), show_path=verbosity > 0, markup=False,
                              rich_tracebacks=False)
    else:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(PlainFormatter("%(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    package = logging.getLogger(PACKAGE)
    package.setLevel(logging.ERROR if verbosity < 0 else logging.DEBUG if verbosity >= 1 else logging.INFO)
