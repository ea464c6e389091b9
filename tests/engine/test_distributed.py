"""The overlay on a real Dask LocalCluster (worker processes) equals one machine's, array for array.

The module's cluster of two worker processes serves (``client``, in tests/engine/conftest.py).
The registry is the sample registry spread over the sample flood raster and the 2022 alert
footprint, overlaid with a per-household radius (GPS accuracy), a vector layer and the default
zone layers; the same again with a worker killed while the partitions run.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rahat.engine.distributed import overlay as distributed
from rahat.engine.distributed.cluster import SCHEDULER_ENV, cluster_client, cluster_spec
from rahat.engine.exposure import Exposure
from rahat.engine.overlay import overlay
from rahat.engine.zones import default_zone_layers
from rahat.geo.errors import InputError
from rahat.geo.hazards import read_hazard
from rahat.geo.paths import repo_root
from rahat.geo.registry.model import Registry
from rahat.geo.registry.order import canonical_order

pytest.importorskip("distributed")

SAMPLES = repo_root() / "data" / "samples"
ALERT = (
    repo_root() / "data" / "hazard" / "flood2022_mom_watershed_alerts" / "20220826_warning.geojson"
)


@pytest.fixture(scope="module")
def inputs() -> tuple[Registry, list[Any], list[Any], dict[str, Any]]:
    rng = np.random.default_rng(8)
    n = 3000
    frame = pd.DataFrame(
        {
            "household_id": rng.permutation(10 * n)[:n].astype(np.int64),
            "lon": np.r_[rng.uniform(67.55, 67.72, n // 2), rng.uniform(66.0, 70.0, n - n // 2)],
            "lat": np.r_[rng.uniform(26.85, 27.0, n // 2), rng.uniform(24.5, 29.0, n - n // 2)],
        }
    )
    registry = canonical_order(Registry.from_frame(frame))
    depth = read_hazard(SAMPLES / "flood_depth_sample.tif", kind="flood_depth", name="depth")
    alert = read_hazard(ALERT, kind="flood_extent", name="alert")
    radius = rng.uniform(0, 400, n)  # metres, one per household
    sampling = {"depth": (radius, "max")}
    return registry, [depth, alert], default_zone_layers(), sampling


def assert_same(got: Exposure, expected: Exposure) -> None:
    assert got.hazards.keys() == expected.hazards.keys()
    for name, layer in expected.hazards.items():
        np.testing.assert_array_equal(got.hazards[name].intensity, layer.intensity)
        np.testing.assert_array_equal(got.hazards[name].hazard_class, layer.hazard_class)
        assert got.hazards[name].intensity.dtype == layer.intensity.dtype
        assert got.hazards[name].class_labels == layer.class_labels
    assert got.zones.keys() == expected.zones.keys()
    for name, zone in expected.zones.items():
        np.testing.assert_array_equal(got.zones[name].codes, zone.codes)
        pd.testing.assert_frame_equal(got.zones[name].table, zone.table)


def test_the_cluster_overlay_equals_one_machines(client: Any, inputs: Any) -> None:
    registry, hazards, zones, sampling = inputs
    expected = overlay(registry, hazards, zones, sampling=sampling)
    assert (expected.hazards["depth"].hazard_class > 0).sum() > 100  # the flood is met
    got = distributed.distributed_overlay(client, registry, hazards, zones, sampling=sampling)
    assert got.registry is registry
    assert_same(got, expected)


def test_a_registry_out_of_canonical_order_is_cut_in_equal_runs(client: Any, inputs: Any) -> None:
    registry, hazards, zones, sampling = inputs
    order = np.random.default_rng(1).permutation(len(registry))
    shuffled = registry.take(order)
    radius = {"depth": (sampling["depth"][0][order], "max")}
    runs = distributed.row_runs(shuffled, 7)
    assert len(runs) == 7 and runs[0][0] == 0 and runs[-1][1] == len(shuffled)
    expected = overlay(shuffled, hazards, zones, sampling=radius)
    assert_same(distributed.distributed_overlay(client, shuffled, hazards, zones, sampling=radius),
                expected)  # fmt: skip


def test_a_worker_killed_mid_run_does_not_change_the_result(client: Any, inputs: Any) -> None:
    registry, hazards, zones, sampling = inputs
    expected = overlay(registry, hazards, zones, sampling=sampling)
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    real_gather = client.gather

    def kill_then_gather(futures: Any) -> Any:
        os.kill(victim, signal.SIGKILL)  # its partitions run again elsewhere
        return real_gather(futures)

    client.gather = kill_then_gather
    try:
        got = distributed.distributed_overlay(client, registry, hazards, zones, sampling=sampling)
    finally:
        client.gather = real_gather
    assert_same(got, expected)
    assert victim not in client.run(os.getpid).values()


def test_cluster_specs_and_an_unreachable_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    assert cluster_spec(None) is None
    assert cluster_spec("local:2") == "local:2"
    assert cluster_spec("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    monkeypatch.setenv(SCHEDULER_ENV, "tcp://scheduler:8786")
    assert cluster_spec(None) == "tcp://scheduler:8786"
    for bad in ("local:0", "local:65", "local", "http://x:1", "tcp://nohost"):
        with pytest.raises(InputError, match="local:N"):
            cluster_spec(bad)
    monkeypatch.setattr("rahat.engine.distributed.cluster.CONNECT_TIMEOUT_S", 1)
    with (
        pytest.raises(InputError, match="cannot reach the Dask scheduler"),
        cluster_client("tcp://127.0.0.1:9"),
    ):
        pass


def test_a_cluster_that_fails_is_a_clear_error(client: Any, inputs: Any) -> None:
    from distributed import KilledWorker

    registry, hazards, zones, sampling = inputs
    real_gather = client.gather
    for failure, words in (
        (KilledWorker("overlay", "tcp://w:1", 3), "out of memory"),
        (ConnectionResetError("gone"), "check the scheduler"),
    ):

        def fail(futures: Any, failure: Exception = failure) -> Any:
            raise failure

        client.gather = fail
        try:
            with pytest.raises(InputError, match=words):
                distributed.distributed_overlay(client, registry, hazards, zones, sampling=sampling)
        finally:
            client.gather = real_gather
