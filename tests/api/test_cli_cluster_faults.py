"""``rahat run --cluster`` on 1 M households: one machine's files, the work on the workers, faults.

One registry of 1 M households (:func:`rahat.benchmarks.e2e_data.national_registry`, imported
once as a snapshot folder, which every run memory-maps and the workers read their rows from)
serves the module, with the shipped flood-footprint scenario on a fixed budget that cuts the
eligible households: ranking, district quotas and the cut line all depend on the overlay. Each
``rahat run`` is a child process with a cache folder of its own, so that no run reads an overlay
another run stored.

No output file holds a time (:mod:`rahat.engine.targeting.outputs`: the manifest has no
``created`` time, the GeoPackage's timestamp is pinned, the PNG carries no date), so every file
of a run folder is compared byte for byte. The timings are in the ``--json`` payload on stdout
(``phases``, ``peak_rss_mb`` and the cluster's ``peak_worker_rss_mb``), compared without them.

The running cluster (``tcp://``) is a ``dask scheduler`` and two ``dask worker`` processes
started here on free ports of 127.0.0.1 (``--port 0``, the address read from the scheduler
file), one thread each and no nanny, so that a process killed stays dead.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from rahat.engine.targeting.folders import TEMP_PREFIX
from rahat.geo.paths import repo_root

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow

HOUSEHOLDS = 1_000_000
#: Every output the command writes (the rejects too).
OUTPUTS = "parquet,csv,gpkg,summary,map,manifest"
#: Keys of the ``--json`` payload that differ between runs of the same inputs: seconds, memory,
#: the cluster's addresses, and the output paths (each run has its own folder).
VARYING = ("phases", "peak_rss_mb", "cluster", "outputs")
#: Seconds a run may take to fail once its scheduler is gone (the client's reconnection to a
#: lost scheduler gives up after ``CONNECT_TIMEOUT_S``, 10 s).
FAILS_WITHIN_S = 30


@dataclass(frozen=True)
class Inputs:
    """The module's folder, its registry snapshot and its scenario file."""

    folder: Path
    snapshot: Path
    scenario: Path


def command(*args: str | Path) -> list[str]:
    """``rahat ARGS`` as a child process of this interpreter."""
    return [sys.executable, "-c", "from rahat.api.cli import main; main()", *map(str, args)]


def environment(cache: Path) -> dict[str, str]:
    """This process's environment with a cache folder of the run's own and no default cluster."""
    env = {**os.environ, "RAHAT_CACHE_DIR": str(cache)}
    env.pop("RAHAT_DASK_SCHEDULER", None)
    return env


def run_args(inputs: Inputs, out: Path, *extra: str) -> list[str]:
    """``rahat run`` of the module's scenario and registry into ``out``, every output."""
    return command("run", inputs.scenario, "--registry", inputs.snapshot, "--out", out,
                   "--outputs", OUTPUTS, *extra)  # fmt: skip


def rahat_run(inputs: Inputs, label: str, *extra: str) -> subprocess.Popen[str]:
    """Start ``rahat run`` into ``<folder>/<label>`` with the cache ``<folder>/cache-<label>``."""
    return subprocess.Popen(
        run_args(inputs, inputs.folder / label, "--json", *extra),
        env=environment(inputs.folder / f"cache-{label}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def reaped(process: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """``process``, killed on the way out if still running (a test failed or timed out)."""
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def finished(process: subprocess.Popen[str], timeout: float = 300) -> dict[str, Any]:
    """The ``--json`` payload of a run that succeeded, without a traceback on stderr."""
    with reaped(process):
        stdout, stderr = process.communicate(timeout=timeout)
    assert process.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]  # Dask's own logs kept quiet
    payload: dict[str, Any] = json.loads(stdout)
    return payload


def assert_same_files(got: Path, expected: Path) -> None:
    """Both run folders hold the same files, byte for byte."""
    names = sorted(p.name for p in expected.iterdir())
    assert {"caseload.parquet", "caseload.csv", "caseload.gpkg", "summary.csv", "map.png",
            "manifest.json", "rejects.csv"} <= set(names)  # fmt: skip
    assert sorted(p.name for p in got.iterdir()) == names
    for name in names:
        assert (got / name).read_bytes() == (expected / name).read_bytes(), name


def steady(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload without its :data:`VARYING` keys."""
    return {key: value for key, value in payload.items() if key not in VARYING}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    from rahat.benchmarks.e2e_data import national_registry
    from rahat.geo.registry.snapshot import import_registry

    folder = tmp_path_factory.mktemp("cluster-faults")
    with pytest.MonkeyPatch.context() as patch:  # the districts' cache file in the test's folder
        patch.setenv("RAHAT_CACHE_DIR", str(folder / "cache-inputs"))
        raw = national_registry(folder / "registry.parquet", HOUSEHOLDS)
        import_registry(raw, folder / "snapshot")
    raw.unlink()
    document = yaml.safe_load((repo_root() / "scenarios/flood_2022_footprint.yaml").read_text())
    document["budget"] = {"total": 500_000_000}  # 20,000 households of some 35,000 eligible
    scenario = folder / "scenario.yaml"
    scenario.write_text(yaml.safe_dump(document))
    return Inputs(folder, folder / "snapshot", scenario)


@pytest.fixture(scope="module")
def single(inputs: Inputs) -> dict[str, Any]:
    """The payload of the run on this machine alone, into ``<folder>/single``."""
    payload = finished(rahat_run(inputs, "single"))
    totals = payload["totals"]
    assert totals["registry_households"] == HOUSEHOLDS and totals["exposed"] > 100_000
    assert 0 < totals["selected"] < totals["eligible"]  # the budget cuts: ranking matters
    return payload


@contextmanager
def dask_cluster(folder: Path, workers: int = 2) -> Iterator[tuple[str, Any, list[Any]]]:
    """A ``dask scheduler`` and ``workers`` ``dask worker`` processes: address and processes."""
    folder.mkdir(parents=True)
    scheduler_file = folder / "scheduler.json"
    env = environment(folder / "cache")
    started: list[subprocess.Popen[bytes]] = []

    def spawn(name: str, *args: str) -> subprocess.Popen[bytes]:
        with (folder / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", f"distributed.cli.dask_{name.rstrip('0123456789')}",
                 *args, "--scheduler-file", str(scheduler_file), "--no-dashboard"],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        started.append(process)
        return process

    try:
        scheduler = spawn("scheduler", "--host", "127.0.0.1", "--port", "0")
        for _ in range(600):
            if scheduler_file.exists() and scheduler_file.stat().st_size:
                break
            assert scheduler.poll() is None, (folder / "scheduler.log").read_text()
            time.sleep(0.05)
        address = json.loads(scheduler_file.read_text())["address"]
        worker_processes = [
            spawn(f"worker{i}", "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                  "--memory-limit", "0", "--local-directory", str(folder / f"worker{i}"))
            for i in range(workers)
        ]  # fmt: skip
        with connected(address) as client:
            client.wait_for_workers(workers, timeout=60)
        yield address, scheduler, worker_processes
    finally:
        for process in started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@contextmanager
def connected(address: str) -> Iterator[Any]:
    """A ``distributed.Client`` of this process on the scheduler at ``address``."""
    from distributed import Client

    with Client(address, timeout=30) as client:
        yield client


def overlay_busy(address: str, run: subprocess.Popen[str]) -> list[int]:
    """Wait until workers compute overlay tasks of ``run``; the process ids of those workers."""

    def busy(dask_scheduler: Any) -> list[str]:  # sent by value to the scheduler
        from dask.utils import key_split

        tasks = dask_scheduler.tasks.values()
        return sorted(
            {
                task.processing_on.address
                for task in tasks
                if task.state == "processing" and "overlay" in key_split(task.key)
            }
        )

    with connected(address) as client:
        deadline = time.monotonic() + 120
        while not (found := client.run_on_scheduler(busy)):
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "no overlay task started"
            time.sleep(0.02)
        return list(client.run(os.getpid, workers=found).values())


def test_a_local_cluster_writes_one_machines_files_at_1m(
    inputs: Inputs, single: dict[str, Any]
) -> None:
    cluster = finished(rahat_run(inputs, "local", "--cluster", "local:2"))
    assert len(cluster["cluster"]["peak_worker_rss_mb"]) == 2
    assert_same_files(inputs.folder / "local", inputs.folder / "single")
    assert steady(cluster) == steady(single)


def test_a_worker_killed_mid_overlay_changes_nothing(
    inputs: Inputs, single: dict[str, Any], tmp_path: Path
) -> None:
    with (
        dask_cluster(tmp_path / "dask") as (address, _, _),
        reaped(rahat_run(inputs, "killed", "--cluster", address)) as run,
    ):
        os.kill(overlay_busy(address, run)[0], signal.SIGKILL)  # a worker mid-task
        payload = finished(run)

        def executing_s(dask_worker: Any) -> dict[str, float]:  # sent by value to the workers
            elapsed = dask_worker.state.task_counter.cumulative_elapsed()
            return {prefix: s for (prefix, state), s in elapsed.items() if state == "executing"}

        with connected(address) as client:
            seconds = client.run(executing_s)
    assert len(payload["cluster"]["peak_worker_rss_mb"]) == 1  # the survivor did the rest
    # the overlay and the ranking ran on the survivor, not in the command's own process
    (by_prefix,) = seconds.values()
    for stage in ("overlay_part", "rank_part"):
        assert by_prefix.get(stage, 0) > 0, by_prefix
    assert_same_files(inputs.folder / "killed", inputs.folder / "single")
    assert steady(payload) == steady(single)


def test_a_scheduler_lost_mid_overlay_fails_clearly_and_writes_nothing(
    inputs: Inputs, tmp_path: Path
) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    with dask_cluster(tmp_path / "dask") as (address, scheduler, workers):
        run = subprocess.Popen(
            run_args(inputs, out, "--cluster", address),  # without --json: words for people
            env=environment(cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        with reaped(run):
            overlay_busy(address, run)
            for worker in workers:  # held mid-task: the overlay cannot finish meanwhile
                os.kill(worker.pid, signal.SIGSTOP)
            scheduler.kill()
            lost = time.monotonic()
            try:
                stdout, stderr = run.communicate(timeout=FAILS_WITHIN_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"rahat run still runs {FAILS_WITHIN_S} s after losing its scheduler")
            failed_s = time.monotonic() - lost
    assert run.returncode == 2, stderr  # an input error, not the internal-error net
    assert "Traceback" not in stderr and stdout == ""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Dask" in lines[0], stderr
    assert "failed during the overlay (scheduler-connection-lost)" in lines[0]
    assert "nothing was written" in lines[0]
    assert failed_s < FAILS_WITHIN_S
    # nothing half-written: no output folder (nor its temporary sibling), no overlay stored
    assert not out.exists() or not any(out.iterdir())
    assert not any(p.name.startswith(TEMP_PREFIX) for p in tmp_path.iterdir())
    assert not (cache / "exposures").exists() or not any((cache / "exposures").iterdir())
