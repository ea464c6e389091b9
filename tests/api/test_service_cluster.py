"""The API's runs on a Dask cluster (``RAHAT_DASK_SCHEDULER``): the same caseload, on the workers.

A real LocalCluster of two worker processes, reached at its scheduler's address as a cluster of
other machines would be; the job runner hands the setting to its runs; a bad setting stops the
service from starting with a clear message.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from conftest import caseload_table, make_settings, queued_run_jobs
from pydantic import ValidationError

from rahat.geo.paths import scenarios_dir

pytest.importorskip("distributed")

COMPARED = ("caseload.parquet", "summary.csv")


@pytest.fixture(scope="module")
def scheduler() -> Iterator[tuple[str, Any]]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield cluster.scheduler_address, client


def _task_prefixes(client: Any) -> set[str]:
    return set(client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes)))


def test_a_run_on_the_cluster_writes_the_caseload_of_one_machine(
    scheduler: tuple[str, Any],
    registry_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rahat.api.service.jobs import run_pipeline

    address, client = scheduler
    scenario = yaml.safe_load((scenarios_dir() / "flood_2022_footprint.yaml").read_text())
    totals = {}
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
            assert {"overlay_part", "rank_part"} <= _task_prefixes(client)
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
