"""Measuring helpers shared by Rahat's benchmarks: peak memory and timing."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def reset_peak_rss() -> bool:
    """Reset the process's peak-RSS counter (Linux); return whether that worked."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """Peak resident memory of this process since start or the last reset, in MiB."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Current resident memory of this process, in MiB."""
    import psutil

    return psutil.Process().memory_info().rss / 1024**2


def timed(func: Callable[[], T], repeat: int = 1) -> tuple[T, float]:
    """Run ``func`` ``repeat`` times; return its last result and the median seconds."""
    times = []
    result: T
    for _ in range(max(repeat, 1)):
        started = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - started)
    times.sort()
    return result, times[len(times) // 2]
