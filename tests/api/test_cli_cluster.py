"""``rahat run --cluster`` with a cluster that is not one: a clear error, nothing written.

The caseload of a run on a cluster, byte for byte one machine's, and the faults (a worker
killed, the scheduler lost) are ``tests/api/test_cli_cluster_faults.py``'s, at 1 M households.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rahat.geo.paths import repo_root

pytest.importorskip("distributed")

SCENARIO = repo_root() / "scenarios" / "flood_2022_footprint.yaml"
FILES = ("caseload.parquet", "caseload.csv", "summary.csv")


def rahat(*args: str | Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAHAT_CACHE_DIR": str(cache)}  # a cache each: no stored overlay shared
    env.pop("RAHAT_DASK_SCHEDULER", None)
    return subprocess.run(
        [sys.executable, "-c", "from rahat.api.cli import main; main()", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_bad_cluster_is_a_clear_error(tmp_path: Path) -> None:
    sample = repo_root() / "data/samples/registry_sample.csv"
    command = ["run", SCENARIO, "--registry", sample, "--out", tmp_path / "out"]
    done = rahat(*command, "--cluster", "local:zero", cache=tmp_path / "c")
    assert done.returncode == 2
    assert "local:N" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
