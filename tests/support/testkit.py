"""Plain helpers shared by tests in several folders (not a conftest, not collected).

``tests/support`` is on ``sys.path`` through pytest's ``pythonpath`` setting (pyproject), so any
test module imports ``from testkit import ...``.
"""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

import pytest


def zip_bytes(members: dict[str, bytes | str], **kw: Any) -> bytes:
    """A zip archive of ``members`` (name -> content); ``kw`` goes to :class:`zipfile.ZipFile`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", **kw) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def count_calls(
    monkeypatch: pytest.MonkeyPatch, module: ModuleType, names: Iterable[str]
) -> dict[str, int]:
    """Wrap ``module``'s functions ``names`` so that each call is counted.

    Parameters
    ----------
    monkeypatch
        Undoes the wrapping (at the test's end or on ``monkeypatch.undo()``).
    module
        The module whose attributes are wrapped.
    names
        The functions to count.

    Returns
    -------
    dict
        Name -> calls so far (updated in place).
    """
    calls = dict.fromkeys(names, 0)

    def counter(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return original(*args, **kwargs)

        return counted

    for name in calls:
        monkeypatch.setattr(module, name, counter(name, getattr(module, name)))
    return calls


def run_concurrently(code: str, *args: str, n: int = 2, timeout: float = 120) -> list[str]:
    """Run ``python -c code args...`` ``n`` times at once; all must succeed.

    Parameters
    ----------
    code
        The program (dedented before it runs).
    *args
        Its command-line arguments.
    n
        How many processes run at the same time.
    timeout
        Seconds each may take.

    Returns
    -------
    list of str
        The standard output of each process.
    """
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    outputs = [p.communicate(timeout=timeout) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    return [out for out, _ in outputs]
