"""A caseload's light ``core`` columns equal the same columns of its whole frame."""

from __future__ import annotations

import pandas as pd

from rahat.benchmarks.policy import BENCH_SCENARIO, synthetic_exposure
from rahat.engine.targeting import compare_caseloads, evaluate, load_scenario
from rahat.engine.targeting.caseload import CORE_COLUMNS


def test_core_equals_the_frame_columns_and_compares_the_same() -> None:
    exposure = synthetic_exposure(3_000, seed=5)
    a = evaluate(load_scenario({**BENCH_SCENARIO, "budget": {"max_households": 150}}), exposure)
    b = evaluate(load_scenario({**BENCH_SCENARIO, "budget": {"max_households": 90}}), exposure)
    core = a.core  # built without the frame
    assert a._frame is None
    pd.testing.assert_frame_equal(core, a.frame[list(CORE_COLUMNS)])
    assert int(core["selected"].sum()) == 150
    light = compare_caseloads(a, b)
    whole = compare_caseloads(a.frame, b.frame)
    assert light.totals == whole.totals and light.totals["dropped"] == 60
    pd.testing.assert_frame_equal(light.by_district, whole.by_district)
    pd.testing.assert_frame_equal(light.households, whole.households)
