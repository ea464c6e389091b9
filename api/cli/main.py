"""Assemble the ``rahat`` command line from its sub-applications.

Each resource has its own module (``registry``, ``hazard``, ...); this module only wires
them together so that importing the CLI stays cheap (heavy libraries load inside commands).
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="rahat",
    help="Rahat: shock-response targeting for disaster relief.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from rahat.api.cli import registry

    app.add_typer(registry.app, name="registry")


_register()


def main() -> None:
    """Entry point of the ``rahat`` console script."""
    app()
