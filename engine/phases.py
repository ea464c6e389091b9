"""Seconds per phase of a run, read off the progress callback the pipeline already calls."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rahat.geo.registry.synth import Progress

#: Phase of each progress stage, by the stage's first words (the first match wins).
PHASE_OF_STAGE: tuple[tuple[str, str], ...] = (
    ("importing", "registry"),
    ("reading the registry", "registry"),
    ("opening", "registry"),
    ("reading hazard", "hazards"),
    ("overlaying", "overlay"),
    ("evaluating", "evaluate"),
    ("writing", "write"),
)


def phase_of(stage: str) -> str:
    """The phase a progress stage belongs to (``other`` when none matches)."""
    for prefix, phase in PHASE_OF_STAGE:
        if stage.startswith(prefix):
            return phase
    return "other"


class PhaseClock:
    """A progress callback that also adds up the seconds spent in each phase.

    Each ``clock(stage, fraction)`` call closes the phase that was running and starts the
    stage's phase; ``done`` (or any stage whose fraction is 1) closes the last one.

    Parameters
    ----------
    forward
        The caller's own progress callback, called with every stage unchanged.
    """

    def __init__(self, forward: Progress) -> None:
        self._forward = forward
        self._phase: str | None = None
        self._started = 0.0
        self.seconds: dict[str, float] = {}

    def __call__(self, stage: str, fraction: float) -> None:
        """Record the switch to ``stage`` and forward it."""
        now = time.perf_counter()
        self._close(now)
        if fraction < 1.0:
            self._phase, self._started = phase_of(stage), now
        self._forward(stage, fraction)

    def _close(self, now: float) -> None:
        if self._phase is not None:
            self.seconds[self._phase] = self.seconds.get(self._phase, 0.0) + now - self._started
            self._phase = None

    def phases(self) -> dict[str, float]:
        """Seconds per phase so far (the running phase included), rounded to milliseconds."""
        self._close(time.perf_counter())
        return {name: round(value, 3) for name, value in self.seconds.items()}


def seconds_since_process_start() -> float:
    """Seconds since this process started (interpreter start and imports included).

    On Linux from ``/proc`` (the process's start in clock ticks since boot against the
    uptime: 10 ms resolution); elsewhere from psutil, whose boot time is whole seconds.
    """
    import os

    try:
        stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started_ticks = int(stat[19])  # field 22, starttime, counted after "pid (comm)"
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(uptime - started_ticks / os.sysconf("SC_CLK_TCK"), 0.0)
    except (OSError, ValueError, IndexError):
        import psutil

        return max(time.time() - psutil.Process().create_time(), 0.0)


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MiB.

    On Linux ``VmHWM`` from ``/proc/self/status``: the high-water mark of this program's own
    memory, which starts afresh at ``exec`` (``getrusage``'s ``ru_maxrss`` keeps the parent's
    size at ``fork``, so a child of a large process would report the parent's memory).
    Elsewhere ``ru_maxrss``.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)
