"""Time and peak memory of one call, measured in this process.

The peak resident set size (``VmHWM``) is reset to the current size through
``/proc/self/clear_refs`` before the call, so the figure is the peak *above* the baseline with
every library already loaded. Where ``clear_refs`` is not writable (not Linux) the figure is
the whole process's peak minus its size before the call, an upper bound.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Measured:
    """What a call returned or raised, how long it took and its peak memory above baseline."""

    value: Any
    error: BaseException | None
    seconds: float
    extra_mb: float


def _peak_kb() -> int:
    """Peak resident memory of this process in kB (resettable through ``clear_refs``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource  # pragma: no cover - not Linux

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # pragma: no cover


def _current_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return _peak_kb()  # pragma: no cover


def measure(call: Callable[[], Any]) -> Measured:
    """Run ``call()`` here; return its value or exception, seconds and extra peak MB."""
    reset = False
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # the peak RSS becomes the current RSS
        reset = True
    base = _peak_kb() if reset else _current_kb()
    started = time.perf_counter()
    value: Any = None
    error: BaseException | None = None
    try:
        value = call()
    except Exception as exc:  # reported, asserted on by the caller
        error = exc
    seconds = time.perf_counter() - started
    return Measured(value, error, seconds, (_peak_kb() - base) / 1024)
