"""A sweep on a real Dask LocalCluster (worker processes) makes one machine's table, exactly.

One cluster of two worker processes serves the module; the exposure is the synthetic one of the
policy benchmark, the scenario its gap-less benchmark scenario.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from rahat.benchmarks.policy import BENCH_SCENARIO, synthetic_exposure
from rahat.engine.distributed.sweep import distributed_sweep
from rahat.engine.exposure import Exposure
from rahat.engine.targeting import Scenario, load_scenario, sweep
from rahat.geo.errors import ScenarioError

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def exposure() -> Exposure:
    return synthetic_exposure(3000, seed=5)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario({**BENCH_SCENARIO, "budget": {"max_households": 120}})


def test_the_cluster_sweep_equals_one_machines(client: Any, exposure: Any, scenario: Any) -> None:
    # 10 points in 8 runs (2 workers x 4) of 2, 2, 1, ...: every run and their order matter
    vary = {"pmt_cutoff": [20.0, 26.0, 32.0, 36.0, 40.0], "max_households": [60.0, 400.0]}
    expected = sweep(scenario, exposure, vary)
    assert len(expected.table) == 10 and expected.table["eligible"].nunique() == 5
    got = distributed_sweep(client, scenario, exposure, vary)
    assert (got.scenario_name, got.parameters) == (expected.scenario_name, expected.parameters)
    pd.testing.assert_frame_equal(got.table, expected.table, check_exact=True)
    assert list(got.table.dtypes) == list(expected.table.dtypes)
    assert got.table.to_csv(index=False) == expected.table.to_csv(index=False)


def test_an_invalid_point_on_a_worker_is_the_error_one_machine_raises(
    client: Any, exposure: Any, scenario: Any
) -> None:
    # points 2 and 3 (-1) and 4 and 5 (-2) are invalid, each in its run: the first one's error
    vary = {"pmt_cutoff": [20.0, -1.0, -2.0], "max_households": [100.0, 150.0]}
    with pytest.raises(ScenarioError) as one_machine:
        sweep(scenario, exposure, vary)
    with pytest.raises(ScenarioError) as cluster:
        distributed_sweep(client, scenario, exposure, vary)
    assert type(cluster.value) is type(one_machine.value)
    assert str(cluster.value) == str(one_machine.value)
    assert "(got -1.0)" in str(cluster.value)


def test_an_unknown_parameter_fails_before_the_cluster_is_used(
    exposure: Any, scenario: Any
) -> None:
    with pytest.raises(ScenarioError, match="unknown sweep parameter"):
        distributed_sweep(None, scenario, exposure, {"nope": [1.0]})
