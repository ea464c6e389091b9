"""Assemble the ``rahat`` command line from its per-resource modules.

Each module (``registry``, ``hazard``, ``targeting``, ``service``, ``bench``, ``demo``) exposes
``register(app)``; this module only wires them together. Heavy libraries are imported inside
the commands, so ``rahat --help`` stays fast and nothing runs at import time.
"""

from __future__ import annotations

import typer

from rahat.api.cli import bench, demo, hazard, registry, service, targeting, whatif
from rahat.api.cli._common import install_help_style
from rahat.api.cli._safety import SafeGroup, run_safely

install_help_style()

app = typer.Typer(
    name="rahat",
    help="Rahat: shock-response targeting for disaster relief.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=SafeGroup,  # every failure of a command: one line and an exit code, never a traceback
    add_completion=False,
)

for _module in (demo, registry, hazard, targeting, whatif, service, bench):
    _module.register(app)


def main() -> None:
    """Entry point of the ``rahat`` console script."""
    run_safely(app)
