"""The ``rahat`` command line: one Typer sub-application per resource."""

from rahat.api.cli.main import app, main

__all__ = ["app", "main"]
