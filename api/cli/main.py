"""Assemble the ``rahat`` command line from its per-resource modules.

Each module defines a module-level ``typer.Typer()``: a named group (``registry``, ``hazard``,
``org``, ``key``, ``agreement``, ``audit``, ``gap``, ``trigger``, ``claims``, ``bench``) or an
unnamed one whose commands sit at the root (``demo``; ``run``, ``compare`` and ``sweep``;
``whatif``; ``report``; ``serve``). This module only adds them to the root, in the order
``rahat --help`` lists them. Heavy libraries are imported inside the commands, so ``rahat
--help`` stays fast and nothing runs at import time.
"""

from __future__ import annotations

import typer

from rahat.api.cli import (
    bench,
    claims,
    demo,
    gap,
    hazard,
    registry,
    report,
    service,
    targeting,
    trigger,
    whatif,
)
from rahat.api.cli._common import defer_option_coercion, install_help_style
from rahat.api.cli._safety import SafeGroup, run_safely

install_help_style()
defer_option_coercion()  # no pydantic import for an absent option

app = typer.Typer(
    name="rahat",
    help="Rahat: shock-response targeting for disaster relief.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=SafeGroup,  # every failure of a command: one line and an exit code, never a traceback
    add_completion=False,
)

for _group in (
    demo.app,
    targeting.app,
    whatif.app,
    report.app,
    service.app,
    registry.app,
    hazard.app,
    service.org_app,
    service.key_app,
    service.agreement_app,
    service.audit_app,
    gap.app,
    trigger.app,
    claims.app,
):
    app.add_typer(_group)
app.add_typer(bench.app, name="bench")


def main() -> None:
    """Entry point of the ``rahat`` console script."""
    run_safely(app)
