"""Shared plumbing of the CLI: error reporting, progress bars, JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console

#: Exit code for input the user must fix (bad file, bad scenario, bad option).
EXIT_INPUT_ERROR = 2

err_console = Console(stderr=True)
console = Console()


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn :class:`~rahat.geo.errors.InputError` into a one-line message and exit code 2.

    Users never see a stack trace for input problems; anything else is a bug and propagates.
    """
    from rahat.geo.errors import InputError

    try:
        yield
    except InputError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_INPUT_ERROR) from None


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Callable[[str, float], None]]:
    """Yield a ``progress(stage, fraction)`` callback drawing a rich progress bar on stderr."""
    if not enabled or not err_console.is_terminal:
        yield lambda stage, fraction: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=1.0)

        def update(stage: str, fraction: float) -> None:
            progress.update(task, description=stage, completed=min(max(fraction, 0.0), 1.0))

        yield update


def print_json(payload: Any) -> None:
    """Print one JSON object on stdout (machine-readable output of ``--json``)."""
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
