"""Seconds per phase of a run, from the progress callback, and the process's age."""

from __future__ import annotations

import subprocess
import sys

from rahat.engine import phases
from rahat.engine.phases import PhaseClock, phase_of


def test_phase_clock_adds_up_each_phase_and_forwards_every_stage(monkeypatch) -> None:
    now = iter([0.0, 1.0, 3.0, 3.5, 4.0, 10.0])
    monkeypatch.setattr(phases.time, "perf_counter", lambda: next(now))
    seen: list[tuple[str, float]] = []
    clock = PhaseClock(lambda stage, fraction: seen.append((stage, fraction)))
    clock("reading hazard layers", 0.25)  # t=0
    clock("overlaying households with hazards and zones", 0.45)  # t=1
    clock("evaluating bisp for the budget", 0.6)  # t=3
    clock("evaluating the scenario", 0.7)  # t=3.5: the same phase goes on
    clock("done", 1.0)  # t=4: closes it, starts nothing
    assert clock.phases() == {"hazards": 1.0, "overlay": 2.0, "evaluate": 1.0}  # t=10 unused
    assert [s for s, _ in seen][-1] == "done" and len(seen) == 5


def test_stage_names_map_to_phases() -> None:
    assert phase_of("reading the registry") == "registry"
    assert phase_of("writing outputs") == "write"
    assert phase_of("something new") == "other"


def test_process_age_counts_from_the_interpreter_start() -> None:
    code = (
        "import time; time.sleep(0.6)\n"
        "from rahat.engine.phases import seconds_since_process_start as age\n"
        "print(age())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 0.6 <= float(out.stdout) < 5.0


def test_peak_memory_is_this_process_high_water_mark_in_mib() -> None:
    # in a fresh process: in this one, earlier tests may have left the peak above any block
    code = """
import numpy as np
from rahat.engine.phases import peak_memory_mb
before = peak_memory_mb()
block = np.ones(300 * 1024 * 1024 // 8)  # 300 MiB, touched
after = peak_memory_mb()
del block
print(before, after, peak_memory_mb())
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after, later = map(float, done.stdout.split())
    assert 5 < before < 16_000  # MiB, not KiB or bytes
    assert after - before > 250  # the block is counted
    assert later > before + 250  # a high-water mark: freeing keeps the peak
