"""``rahat run --cluster local:2`` writes the caseload one machine writes, byte for byte."""

from __future__ import annotations

import json
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


def test_a_run_on_a_local_cluster_writes_the_same_caseload(tmp_path: Path) -> None:
    made = rahat("registry", "synth", "--households", "20000", "--seed", "3", "--out",
                 tmp_path / "demo", cache=tmp_path / "c0")  # fmt: skip
    assert made.returncode == 0, made.stderr
    registry = tmp_path / "demo" / "registry.parquet"
    outs = {}
    for name, extra in (("cluster", ["--cluster", "local:2", "--json"]), ("single", [])):
        out = tmp_path / name
        command = ["run", SCENARIO, "--registry", registry, "--out", out, "--outputs"]
        done = rahat(*command, "parquet,csv,summary", *extra, cache=tmp_path / f"c-{name}")
        assert done.returncode == 0, done.stderr
        outs[name] = out
        if name == "cluster":  # the overlay ran on the cluster's two worker processes
            assert len(json.loads(done.stdout)["cluster"]["peak_worker_rss_mb"]) == 2
    for file in FILES:
        assert (outs["cluster"] / file).read_bytes() == (outs["single"] / file).read_bytes(), file


def test_a_bad_cluster_is_a_clear_error(tmp_path: Path) -> None:
    sample = repo_root() / "data/samples/registry_sample.csv"
    command = ["run", SCENARIO, "--registry", sample, "--out", tmp_path / "out"]
    done = rahat(*command, "--cluster", "local:zero", cache=tmp_path / "c")
    assert done.returncode == 2
    assert "local:N" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
