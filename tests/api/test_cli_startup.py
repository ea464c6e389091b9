"""Start-up of the ``rahat`` command line: light commands import no heavy library.

``rahat --help``, ``rahat whatif --help`` and the like build the command line only: pandas,
numba, geopandas, the server's libraries and the rest are imported inside the commands that
use them, and numba only when a kernel first runs. Each check runs in a fresh interpreter, so
a heavy import put back at module level anywhere on the way turns it red.

The ``startup`` phase of ``rahat run`` and ``rahat whatif`` is the time from the process's
start to the command's first line; the engine's imports that follow are the ``modules`` phase.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

#: Libraries no light command may import (each costs from tens to hundreds of milliseconds).
HEAVY = (
    "pandas",
    "numpy",
    "numba",
    "pyarrow",
    "pydantic",
    "scipy",
    "geopandas",
    "shapely",
    "pyproj",
    "pyogrio",
    "rasterio",
    "xarray",
    "matplotlib",
    "sqlalchemy",
    "fastapi",
    "starlette",
    "uvicorn",
)

_HELP = """
import json, sys
from typer.main import get_command
from rahat.api.cli.main import app
try:
    get_command(app).main(sys.argv[1:], prog_name="rahat", standalone_mode=False)
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after(code: str, *args: str) -> set[str]:
    """Run ``code`` in a fresh interpreter and return the top-level modules it imported."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return {name.split(".")[0] for name in json.loads(done.stdout.splitlines()[-1])}


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["whatif", "--help"],
        ["run", "--help"],
        ["compare", "--help"],
        ["registry", "--help"],
        ["registry", "import", "--help"],
        ["registry", "verify", "--help"],
        ["serve", "--help"],
        ["bench", "--help"],
    ],
    ids=" ".join,
)
def test_help_imports_no_heavy_library(args: list[str]) -> None:
    heavy = sorted(_modules_after(_HELP, *args) & set(HEAVY))
    assert heavy == [], f"rahat {' '.join(args)} imported {heavy}"


def test_engine_imports_numba_only_when_a_kernel_runs() -> None:
    code = """
import json, sys
import numpy as np
import rahat.engine.pipeline, rahat.engine.targeting, rahat.engine.whatif, rahat.engine.zones
before = "numba" in sys.modules
from rahat.engine.kernels.grouping import group_positions
codes = np.array([2, 0, 1, 0], dtype=np.int64)
values = np.array([0.5, 0.2, 0.1, 0.1], dtype=np.float32)
positions = group_positions(codes, values, np.arange(4, dtype=np.uint64), 3)
print(json.dumps([before, "numba" in sys.modules, positions.tolist()]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [False, True, [0, 1, 0, 0]]


#: Runs ``rahat`` with the process-start clock watched: which heavy libraries were loaded when
#: the command read it (``startup``).
_WATCHED = """
import json, sys
import rahat.engine.phases as phases
seen = []
clock = phases.seconds_since_process_start
def watched():
    seen.append(sorted(m for m in ("pandas", "numba", "pyarrow") if m in sys.modules))
    return clock()
phases.seconds_since_process_start = watched
from rahat.api.cli.main import main
try:
    main()
finally:
    print(json.dumps(seen), file=sys.stderr)
"""


def test_whatif_startup_ends_where_the_command_starts(tmp_path: Path, registry_file: Path) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text(
        json.dumps(
            {
                "name": "startup",
                "hazards": [
                    {"name": "depth", "path": "demo:flood_depth_sindh_2022", "kind": "flood_depth"}
                ],
                "eligibility": {
                    "pmt_cutoff": 30,
                    "hazard": [{"layer": "depth", "min_intensity": 0.3}],
                },
                "benefit": {"kind": "fixed", "amount": 25000},
                "budget": {"total": 3_000_000},
            }
        )
    )
    args = ["whatif", str(scenario), "--registry", str(registry_file), "--set", "pmt_cutoff=40"]
    done = subprocess.run(
        [sys.executable, "-c", _WATCHED, *args, "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stderr.splitlines()[-1]) == [[]]  # read before the engine's imports
    phases = json.loads(done.stdout)["phases"]
    assert list(phases)[:3] == ["startup", "modules", "scenario"]
    assert all(seconds >= 0 for seconds in phases.values())
