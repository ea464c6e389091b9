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


def test_comparison_by_registry_position_equals_the_comparison_of_the_frames() -> None:
    import numpy as np

    from rahat.engine.exposure import Exposure
    from rahat.engine.targeting.compare import _sides_by_position
    from rahat.geo.registry.model import Registry

    base = synthetic_exposure(3_000, seed=21)
    frame = base.registry.frame.copy()
    rng = np.random.default_rng(3)
    frame["province"] = pd.Categorical(rng.choice(["Alpha", "Beta"], len(frame)))
    district = rng.choice(["D0", "D1", "D2"], len(frame)).astype(object)
    district[rng.random(len(frame)) < 0.05] = None  # households of no known district
    frame["district"] = pd.Categorical(district)
    exposure = Exposure(registry=Registry.from_frame(frame), hazards=base.hazards)
    bench = {**BENCH_SCENARIO, "quotas": None}
    a = evaluate(load_scenario({**bench, "budget": {"max_households": 150}}), exposure)
    by_poverty = {"weights": {"poverty": 1.0}}
    b = evaluate(
        load_scenario({**bench, "budget": {"max_households": 90}, "priority": by_poverty}),
        exposure,
    )
    assert _sides_by_position(a, b) is not None  # the fast way is taken
    fast = compare_caseloads(a, b)
    slow = compare_caseloads(a.frame, b.frame)
    assert fast.totals == slow.totals
    assert fast.totals["added"] > 0 and fast.totals["dropped"] > 0 and fast.totals["kept"] > 0
    pd.testing.assert_frame_equal(fast.by_district, slow.by_district)
    pd.testing.assert_frame_equal(fast.households, slow.households)
    units = zip(fast.by_district["province"], fast.by_district["district"], strict=True)
    assert ("Alpha", "D0") in set(units)
