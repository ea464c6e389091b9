"""The safety net of every ``rahat`` command: one line on stderr and an exit code, never a trace.

:class:`SafeGroup` is the root command group. Whatever a command lets escape becomes one line
and one of the exit codes of :mod:`rahat.api.cli._common`:

* :class:`~rahat.geo.errors.InputError`: its message, exit 2;
* :class:`MemoryError`: "not enough memory to finish `rahat ...`", exit 3;
* :class:`OSError`: disk full, permission denied or the system's reason, with the path, exit 74;
* :class:`KeyboardInterrupt`: "interrupted", exit 130;
* anything else is a bug: "internal error (<type>)", exit 70, with the traceback written to a
  log file (:func:`write_crash_log`) whose path the line gives.

``typer.Exit``, ``typer.Abort``, usage errors and :class:`SystemExit` pass through unchanged.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from rahat.api.cli._common import (
    EXIT_INPUT_ERROR,
    EXIT_INTERNAL_ERROR,
    EXIT_INTERRUPTED,
    EXIT_NO_MEMORY,
    EXIT_OS_ERROR,
    print_error,
)

#: Folder of the crash logs, under Rahat's cache folder (``RAHAT_CACHE_DIR``).
LOG_FOLDER = "logs"

_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_DENIED = {errno.EACCES, errno.EPERM, errno.EROFS}
_DISK_FULL_TEXT = ("no space left on device", "disk quota exceeded")


def command_words(group: Any, args: list[str]) -> str:
    """Return the command a user ran (``rahat registry validate``), without its arguments."""
    words = ["rahat"]
    command = group
    for arg in args:
        commands = getattr(command, "commands", None)
        if not isinstance(commands, dict) or arg not in commands:
            break
        words.append(arg)
        command = commands[arg]
    return " ".join(words)


def _log_folders() -> list[Path]:
    folders = []
    try:
        from rahat.geo.paths import cache_dir

        folders.append(cache_dir() / LOG_FOLDER)
    except OSError:  # an unusable cache folder: the temporary folder only
        pass
    folders.append(Path(tempfile.gettempdir()))
    return folders


def write_crash_log(exc: BaseException, command: str) -> Path | None:
    """Write the traceback of ``exc`` to a new log file readable by its owner only.

    The file is ``rahat-error-<time>-<pid>.log`` under the cache folder's ``logs`` folder (or
    the temporary folder when that cannot be written). The command's arguments are left out:
    they may hold API tokens or personal paths. Returns ``None`` when no file could be written.
    """
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    text = (
        f"command: {command}\n"
        f"time: {dt.datetime.now(dt.UTC).isoformat()}\n"
        f"python: {sys.version.split()[0]}\n\n"
        + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    )
    for folder in _log_folders():
        path = folder / f"rahat-error-{stamp}-{os.getpid()}.log"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError:
            continue
        return path
    return None


def _os_error_line(exc: OSError) -> str:
    where = exc.filename if exc.filename is not None else None
    code = exc.errno
    text = str(exc).lower()
    if code in _DISK_FULL or (code is None and any(t in text for t in _DISK_FULL_TEXT)):
        return f"disk full writing {where}" if where else "disk full while writing the output"
    if code in _DENIED:
        why = "read-only file system" if code == errno.EROFS else "permission denied"
        return f"cannot write {where}: {why}" if where else f"{why} ({exc.strerror})"
    first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    reason = exc.strerror or first_line
    return f"{where}: {reason}" if where else f"system error: {reason}"


def report_failure(exc: BaseException, command: str) -> int:
    """Print the one line for ``exc`` on stderr and return the exit code (see module doc)."""
    from rahat.geo.errors import InputError

    if isinstance(exc, InputError):
        print_error(str(exc))
        return EXIT_INPUT_ERROR
    if isinstance(exc, MemoryError):
        print_error(
            f"not enough memory to finish `{command}`; try a smaller file (a clipped hazard "
            "footprint, a coarser raster, a registry cut to the affected districts) or a "
            "machine with more memory"
        )
        return EXIT_NO_MEMORY
    if isinstance(exc, KeyboardInterrupt):
        print_error("interrupted")
        return EXIT_INTERRUPTED
    if isinstance(exc, OSError):
        print_error(_os_error_line(exc))
        return EXIT_OS_ERROR
    log = write_crash_log(exc, command)
    where = f"the details were written to {log}" if log else "no log file could be written"
    print_error(f"internal error ({type(exc).__name__}) in `{command}`; {where}")
    return EXIT_INTERNAL_ERROR


def _passes_through(exc: BaseException) -> bool:
    if isinstance(exc, typer.Exit | typer.Abort | typer.TyperException | SystemExit):
        return True
    if isinstance(exc, BrokenPipeError | GeneratorExit):
        return True  # the reader went away (``| head``): typer exits quietly
    return not isinstance(exc, Exception | KeyboardInterrupt)


class SafeGroup(TyperGroup):
    """Root command group that turns every failure of a command into one line and an exit code."""

    def invoke(self, ctx: Any) -> Any:
        """Run the command, reporting what escapes it with :func:`report_failure`."""
        command = command_words(self, [*getattr(ctx, "_protected_args", []), *ctx.args])
        try:
            return super().invoke(ctx)
        except BaseException as exc:
            if _passes_through(exc):
                raise
            raise typer.Exit(report_failure(exc, command)) from None


def run_safely(app: typer.Typer) -> None:
    """Run ``app`` as the ``rahat`` script; a failure outside any command is also one line."""
    try:
        app()
    except BaseException as exc:
        if _passes_through(exc):
            raise
        sys.exit(report_failure(exc, "rahat"))
