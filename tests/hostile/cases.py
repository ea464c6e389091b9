"""The corpus's data model: a hostile input (:class:`Case`) and what running it gave.

A case builds its input under ``tmp_path`` and names the runner that feeds it to Rahat: the
registry reader, the hazard reader, the scenario loader, the ``rahat`` CLI (in-process) or the
Relief API (in-process). ``expect`` is an error class name (readers, loader), an exit code
(CLI) or an HTTP status (API); ``"ok"`` means the input is accepted (for example with a
warning that ``message_contains`` names).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Reason prefix of the cases that fail today and that no fix under way covers yet.
NEW = "not yet fixed (found by the corpus): "

#: Registry columns every registry file must have, in order.
HEADER = (
    "household_id,lon,lat,province,district,tehsil,pmt_score,household_size,children_under5,"
    "elderly,disabled,female_headed,dwelling,livelihood,last_updated"
)
#: A valid registry row (a household in Dadu, Sindh), with ``{id}`` for its id.
ROW = "{id},67.77,26.73,Sindh,Dadu,Dadu,25.5,6,1,0,0,false,kacha,crop_farming,2022-01-15"


@dataclass(frozen=True)
class Case:
    """One hostile input and the outcome Rahat must give it.

    Parameters
    ----------
    id
        Unique name (the pytest id).
    group
        registry, hazard, scenario, cli or http.
    build
        ``build(tmp_path)`` writes what the case needs and returns the runner's input.
    expect
        Error class name, CLI exit code or HTTP status.
    message_contains
        Text the error message, CLI output or response body must contain (case-insensitive).
    runner
        Which runner feeds the input (defaults to the group's own).
    xfail
        Why the case fails today (the fix that makes it pass); the case is a strict xfail.
    """

    id: str
    group: str
    build: Callable[[Path], Any]
    expect: str | int
    message_contains: str = ""
    runner: str = ""
    xfail: str | None = None

    @property
    def runs_with(self) -> str:
        return self.runner or self.group


@dataclass
class Outcome:
    """What a runner got: the error class name / exit code / status, and all text shown."""

    result: str | int
    text: str = ""
    #: Folders whose content must be complete after the case (nothing half-written).
    watched: list[Path] = field(default_factory=list)


def registry_text(*rows: str, header: str = HEADER) -> str:
    """The text of a CSV registry with ``header`` and ``rows``, one a line."""
    return "\n".join((header, *rows)) + "\n"


def registry_csv(tmp: Path, *rows: str, header: str = HEADER, name: str = "reg.csv") -> Path:
    """A CSV registry file with ``header`` and ``rows`` (UTF-8)."""
    path = tmp / name
    path.write_text(registry_text(*rows, header=header), encoding="utf-8")
    return path


def rows(n: int = 3, start: int = 1) -> list[str]:
    """``n`` valid registry rows with ids from ``start``."""
    return [ROW.format(id=start + i) for i in range(n)]


def write(tmp: Path, name: str, data: bytes | str) -> Path:
    """Write ``data`` to ``tmp/name`` and return the path."""
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def fifo(name: str) -> Callable[[Path], Path]:
    """A case input: a FIFO named ``name`` (a reader must refuse it without blocking)."""

    def make(tmp: Path) -> Path:
        path = tmp / name
        os.mkfifo(path)
        return path

    return make


def folder(name: str) -> Callable[[Path], Path]:
    """A case input: a folder named ``name`` where a file is expected."""

    def make(tmp: Path) -> Path:
        path = tmp / name
        path.mkdir()
        return path

    return make
