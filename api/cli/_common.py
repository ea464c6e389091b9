"""Shared plumbing of the CLI: exit codes, error reporting, progress bars, JSON output.

Exit codes of every ``rahat`` command (the constants below):

====  ==============================  ================================================
code  constant                        meaning
====  ==============================  ================================================
0                                     done
1     :data:`EXIT_ROWS_REJECTED`      ``rahat registry validate``: the file was read and
                                      some rows were rejected (see the rejects file)
2     :data:`EXIT_INPUT_ERROR`        input to fix: a file, scenario, option or output
                                      path Rahat refuses (also a mistyped command line)
3     :data:`EXIT_NO_MEMORY`          not enough memory for the input given
70    :data:`EXIT_INTERNAL_ERROR`     a bug in Rahat: the traceback is written to a log
                                      file whose path the one-line message gives
74    :data:`EXIT_OS_ERROR`           the system refused a read or write: disk full,
                                      permission denied, read-only file system
130   :data:`EXIT_INTERRUPTED`        interrupted (Ctrl-C)
====  ==============================  ================================================

No command ever prints a Python traceback: :mod:`rahat.api.cli._safety` turns every failure
into one line on stderr and one of these codes.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from rahat.geo.registry.synth import Progress

#: Exit code of ``rahat registry validate`` when the file was readable but some rows were
#: rejected (the others are valid).
EXIT_ROWS_REJECTED = 1
#: Exit code for input the user must fix (bad file, bad scenario, bad option, bad output path).
EXIT_INPUT_ERROR = 2
#: Exit code when the machine has not enough memory for the input (a :class:`MemoryError`).
EXIT_NO_MEMORY = 3
#: Exit code of an unexpected exception (a bug): ``EX_SOFTWARE`` of ``sysexits.h``.
EXIT_INTERNAL_ERROR = 70
#: Exit code when the system refused a read or write (disk full, permission denied):
#: ``EX_IOERR`` of ``sysexits.h``.
EXIT_OS_ERROR = 74
#: Exit code after Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130

#: Width of tables and lines when the output is not a terminal (a pipe, a file, a test): wide
#: enough that no table is cut to 80 columns ("househo…"); set COLUMNS to choose another.
PIPE_WIDTH = 240


def make_console(*, stderr: bool = False) -> Console:
    """A rich console that keeps whole tables when piped (see :data:`PIPE_WIDTH`).

    Emoji codes are never replaced: a unit or file named ``a:100:b`` prints as written. Text
    from users (names, paths, messages) must still go through :func:`esc`, so that rich does
    not read ``[bold]`` in it as markup.
    """
    probe = Console(stderr=stderr, emoji=False)
    if probe.is_terminal or os.environ.get("COLUMNS"):
        return probe
    return Console(stderr=stderr, width=PIPE_WIDTH, emoji=False)


err_console = make_console(stderr=True)
console = make_console()


def esc(value: object) -> str:
    """``str(value)`` escaped for rich markup: user text (a name, a path) prints literally."""
    from rich.markup import escape

    return escape(str(value))


def print_error(message: str) -> None:
    """Print ``message`` (plain text, escaped here) as one ``error:`` line on stderr."""
    err_console.print(f"[bold red]error:[/] {esc(message)}", highlight=False, soft_wrap=True)


def format_cell(value: Any, column: str = "") -> str:
    """Format one table cell: ``-`` for missing (never ``nan``), shares as percentages.

    Only columns named as shares or rates (``*_share``, ``*_rate``, ``share*``, ``coverage``)
    print as percentages; any other number prints in its own unit (a depth of 0.3 stays
    ``0.3``, not ``30.0%``).
    """
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if is_share_column(column):
            return f"{value:.1%}"
        if value.is_integer() and abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:,.6g}" if abs(value) < 1000 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    text = str(value)
    return "-" if text in ("nan", "NaN", "<NA>", "NaT") else text


def is_share_column(column: str) -> bool:
    """Whether a column holds fractions to print as percentages."""
    name = column.lower()
    return (
        name.endswith(("_share", "_rate", "_pct"))
        or name.startswith("share")
        or name.endswith("coverage")
        or name == "share"
    )


def install_help_style() -> None:
    """Make ``--help`` show flags as flags and arguments by name.

    Recent typer releases print every option's type, so a flag reads ``--json <bool>`` (and
    ``--json true`` is then an error), and the usage line shows required arguments as
    ``{scenario}``. Flags get no type column and arguments print as ``SCENARIO``. Applied
    once; a typer without these hooks is left as it is.
    """
    try:
        from typer.core import TyperArgument, TyperOption
    except ImportError:  # pragma: no cover - other typer layouts
        return
    if getattr(TyperOption, "_rahat_help_style", False):
        return
    option_type = getattr(TyperOption, "display_type_rich", None)
    if option_type is not None:

        def display_type_rich(self: Any, ctx: Any) -> str | None:
            if getattr(self, "is_flag", False) and not getattr(self, "count", False):
                return None
            return option_type(self, ctx)

        TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]
    if hasattr(TyperArgument, "_usage_display_name"):

        def usage_name(self: Any) -> str:
            name = (self.metavar or self.name or "").upper()
            name = name if self.required else f"[{name}]"
            return name + ("..." if self.nargs != 1 else "")

        TyperArgument._usage_display_name = usage_name  # type: ignore[method-assign]
    TyperOption._rahat_help_style = True  # type: ignore[attr-defined]


class _DeferredCoercion:
    """Stand-in for typer's value coercer of one parameter, built when a value needs it.

    typer (0.2x) builds each parameter's coercer with pydantic the first time the parameter is
    processed, even when its value is ``None`` (every group's unused ``--help``), so every
    command imported pydantic (a few hundred milliseconds) before running. ``None`` coerces to
    ``None`` (``()`` for a repeatable parameter) whatever the type, as typer does; any other
    value goes to the coercer typer builds.
    """

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._built: Any = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        """Return ``value`` coerced to the parameter's type, as typer's coercer does."""
        if value is None:
            return () if param.multiple or param.nargs == -1 else None
        if self._built is None:
            self._built = self._build()
        return self._built.coerce(value, param=param, ctx=ctx)


def defer_option_coercion() -> None:
    """Build typer's coercer of a parameter only for a value (none for an absent option).

    Applied once; a typer without this hook (``_TyperParameter.get_runtime_param``) is left as
    it is.
    """
    try:
        from typer.core import _TyperParameter, build_runtime_param
    except ImportError:  # pragma: no cover - other typer layouts
        return
    if not hasattr(_TyperParameter, "get_runtime_param"):  # pragma: no cover
        return
    if getattr(_TyperParameter, "_rahat_deferred", False):
        return

    def get_runtime_param(self: Any) -> Any:
        if self._runtime_param is None:
            descriptor = self.type_descriptor
            self._runtime_param = _DeferredCoercion(lambda: build_runtime_param(descriptor))
        return self._runtime_param

    _TyperParameter.get_runtime_param = get_runtime_param  # type: ignore[method-assign]
    _TyperParameter._rahat_deferred = True  # type: ignore[attr-defined]


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn :class:`~rahat.geo.errors.InputError` into a one-line message and exit code 2.

    Users never see a stack trace for input problems; anything else propagates to the safety
    net of :mod:`rahat.api.cli._safety`, which also prints one line.
    """
    from rahat.geo.errors import InputError

    try:
        yield
    except InputError as exc:
        print_error(str(exc))
        raise typer.Exit(EXIT_INPUT_ERROR) from None


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Progress]:
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


def _json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, +-inf) replaced by ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def print_warnings(warnings: Iterable[str]) -> None:
    """Print each warning on its own line, prefixed ``warning:`` in yellow (markup escaped)."""
    for warning in warnings:
        console.print(f"[yellow]warning:[/] {esc(warning)}", highlight=False)


def print_json(payload: Any) -> None:
    """Print one JSON object on stdout (machine-readable output of ``--json``).

    Always valid JSON: NaN and infinities are printed as ``null``.
    """
    text = json.dumps(_json_safe(payload), indent=2, default=str, allow_nan=False)
    sys.stdout.write(text + "\n")
