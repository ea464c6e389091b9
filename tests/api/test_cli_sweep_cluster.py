"""``rahat sweep --cluster tcp://...`` writes the sweep table one machine writes, byte for byte.

The scenario's budget is ``same_as`` another scenario's, so its resolution runs through the
cluster's overlay too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import tasks_done
from typer.testing import CliRunner

from rahat.api.cli import app
from rahat.engine.distributed.cluster import SCHEDULER_ENV
from rahat.geo.paths import repo_root

pytest.importorskip("distributed")

runner = CliRunner()
SCENARIO = repo_root() / "scenarios" / "flood_2022_footprint.yaml"
VARY = ("--vary", "pmt_cutoff=20:40:5", "--vary", "depth=0.1:0.5:0.2")


def sweep(
    registry: Path, out: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, *extra: str
) -> tuple[int, str]:
    monkeypatch.setenv("RAHAT_CACHE_DIR", str(cache))  # a cache each: no stored overlay shared
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    command = ["sweep", str(SCENARIO), "--registry", str(registry), "--out", str(out), *VARY]
    done = runner.invoke(app, [*command, *extra])
    return done.exit_code, done.output


def test_a_sweep_on_a_cluster_writes_the_same_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dask_scheduler: tuple[str, Any]
) -> None:
    from rahat.geo.registry.synth import write_demo

    write_demo(6000, 3, tmp_path / "demo")
    registry = tmp_path / "demo" / "registry.parquet"
    address, client = dask_scheduler
    points_before = tasks_done(client, "catching")
    tables = {}
    for name, extra in (("cluster", ["--cluster", address]), ("single", [])):
        out = tmp_path / name
        code, output = sweep(registry, out, tmp_path / f"c-{name}", monkeypatch, "--json", *extra)
        assert code == 0, output
        report = json.loads(output[output.index("{") :])
        if name == "cluster":  # the overlay and the points ran on two worker processes
            assert report["cluster"]["spec"] == address
            assert len(report["cluster"]["peak_worker_rss_mb"]) == 2
            assert tasks_done(client, "catching") > points_before
        else:
            assert "cluster" not in report
        tables[name] = (out / "sweep.csv").read_bytes()
    assert tables["cluster"] == tables["single"]
    rows = tables["single"].decode().splitlines()
    assert len(rows) == 1 + 5 * 3 and len({row.split(",")[3] for row in rows[1:]}) > 3


def test_a_bad_cluster_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sample = repo_root() / "data/samples/registry_sample.csv"
    out = tmp_path / "out"
    code, output = sweep(sample, out, tmp_path / "c", monkeypatch, "--cluster", "tcp://nohost")
    assert code == 2
    assert "--cluster must be local:N" in output and "Traceback" not in output
    assert not out.exists() or not any(out.iterdir())
