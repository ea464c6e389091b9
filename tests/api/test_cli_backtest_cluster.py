"""``rahat trigger backtest --cluster tcp://...`` writes one machine's files, byte for byte.

The backtest is the shipped 2022 one (CHIRPS rainfall of 58 Sindh tehsils, 115 as-of days,
scored against the Sentinel-1 flooded shares).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import tasks_done
from typer.testing import CliRunner

from rahat.api.cli.main import app as cli
from rahat.engine.distributed.cluster import SCHEDULER_ENV
from rahat.geo.paths import repo_root

pytest.importorskip("distributed")

TRIGGER = repo_root() / "scenarios" / "triggers" / "sindh_rain_2022.yaml"
OBSERVED = repo_root() / "data" / "triggers" / "sindh_tehsil_flooded_2022.csv"
FILES = ("backtest.json", "backtest_areas.csv", "backtest_timeline.png")


def test_a_backtest_on_a_cluster_writes_the_same_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dask_scheduler: tuple[str, Any]
) -> None:
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    address, client = dask_scheduler
    runs_before = tasks_done(client, "catching")
    printed = {}
    for name, extra in (("cluster", ["--cluster", address]), ("single", [])):
        args = ["trigger", "backtest", str(TRIGGER), "--observed", str(OBSERVED)]
        done = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / name), "--json", *extra])
        assert done.exit_code == 0, done.output
        printed[name] = json.loads(done.stdout)
    cluster = printed["cluster"].pop("cluster")
    assert cluster["spec"] == address and len(cluster["peak_worker_rss_mb"]) == 2
    assert tasks_done(client, "catching") > runs_before  # the days ran on the workers
    assert printed["cluster"] == printed["single"] and printed["single"]["areas"] == 58
    assert "cluster" not in json.loads((tmp_path / "cluster" / "backtest.json").read_text())
    for file in FILES:
        written = (tmp_path / "cluster" / file).read_bytes()
        assert written == (tmp_path / "single" / file).read_bytes(), file


@pytest.mark.parametrize("where", ["option", "environment"])
def test_a_bad_cluster_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    args = ["trigger", "backtest", str(TRIGGER), "--observed", str(OBSERVED)]
    args += ["--out", str(tmp_path / "out")]
    if where == "option":
        monkeypatch.delenv(SCHEDULER_ENV, raising=False)
        args += ["--cluster", "local:zero"]
    else:
        monkeypatch.setenv(SCHEDULER_ENV, "http://scheduler")
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 2, done.output
    assert "local:N" in done.output and "tcp://host:8786" in done.output
    assert "Traceback" not in done.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
