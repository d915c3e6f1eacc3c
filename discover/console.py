"""The rich consoles every command prints through."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from rich.console import Console


def log_width(stream: TextIO) -> int | None:
    # Off a terminal (a log file, CI) rich would squash tables to 80 columns; a log reads better wider.
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return None if tty or os.environ.get("COLUMNS") else 120


# emoji=False: ":train:" in a stored or user-written string (an instance set named train, a problem message) must
# print as itself, not as a locomotive; our own output never uses emoji codes.
console = Console(width=log_width(sys.stdout), emoji=False)
err_console = Console(stderr=True, width=log_width(sys.stderr), emoji=False)
