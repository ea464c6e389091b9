"""The API's runs on a Dask cluster (``RAHAT_DASK_SCHEDULER``): the same caseload, on the workers.

The module's LocalCluster of two worker processes (``dask_scheduler``), reached at its
scheduler's address as a cluster of other machines would be; the job runner hands the setting to
its runs; a bad setting stops the service from starting with a clear message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from conftest import caseload_table, make_settings, queued_run_jobs, tasks_done
from pydantic import ValidationError

from rahat.geo.paths import scenarios_dir

pytest.importorskip("distributed")

COMPARED = ("caseload.parquet", "summary.csv")


def test_a_run_on_the_cluster_writes_the_caseload_of_one_machine(
    dask_scheduler: tuple[str, Any],
    registry_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rahat.api.service.jobs import run_pipeline

    address, client = dask_scheduler
    scenario = yaml.safe_load((scenarios_dir() / "flood_2022_footprint.yaml").read_text())
    totals = {}
    before = {stage: tasks_done(client, stage) for stage in ("overlay_part", "rank_part")}
    for name, cluster in (("cluster", address), ("single", None)):
        monkeypatch.setenv("RAHAT_CACHE_DIR", str(tmp_path / f"cache-{name}"))  # no stored overlay
        (tmp_path / name).mkdir()
        totals[name] = run_pipeline(
            scenario,
            registry_path=registry_file,
            hazard_paths={},
            out_dir=tmp_path / name,
            progress=lambda stage, fraction: None,
            cluster=cluster,
        )
        if cluster is not None:  # the overlay and the ranking ran on the workers
            for stage, count in before.items():
                assert tasks_done(client, stage) > count, stage
    assert totals["cluster"] == totals["single"] and totals["single"]["selected"] > 0
    for file in COMPARED:
        assert (tmp_path / "cluster" / file).read_bytes() == (
            tmp_path / "single" / file
        ).read_bytes()


@pytest.mark.parametrize("setting", ["tcp://10.0.0.7:8786", None])
def test_the_job_manager_hands_its_runs_the_cluster(tmp_path: Path, setting: str | None) -> None:
    settings = make_settings(tmp_path, dask_scheduler=setting)
    seen: dict[str, Any] = {}

    def runner(scenario: dict[str, Any], *, out_dir: Path, **options: Any) -> dict[str, Any]:
        seen.update(options)
        pq.write_table(caseload_table(), out_dir / "caseload.parquet")
        return {}

    with queued_run_jobs(settings, "agency-cluster", "agency") as (jobs, _, run_id):
        jobs.runner = runner
        jobs.submit(run_id)
        jobs.wait(run_id, timeout=60)
    if setting is None:
        assert "cluster" not in seen  # runners written before clusters get no new keyword
    else:
        assert seen["cluster"] == setting


@pytest.mark.parametrize("bad", ["local:0", "local:two", "http://host:8786", "tcp://host"])
def test_a_bad_scheduler_setting_stops_the_service(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValidationError, match="RAHAT_DASK_SCHEDULER must be local:N"):
        make_settings(tmp_path, dask_scheduler=bad)
    assert make_settings(tmp_path, dask_scheduler="  ").dask_scheduler is None
