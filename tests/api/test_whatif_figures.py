"""A what-if's figures from the caseload's arrays equal the run summary's, from its frame."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rahat.api.service.aggregates import compute_aggregates
from rahat.api.service.whatif import AGGREGATE_COLUMNS
from rahat.api.service.whatif_figures import (
    aggregates,
    household_sets,
    selection_changes,
    unit_groups,
)
from rahat.engine.pipeline import ExposureCache, load_registry
from rahat.engine.targeting.scenario import load_scenario
from rahat.engine.whatif import BaseMemo, whatif

REPO = Path(__file__).resolve().parents[2]
DEPTH = {"name": "depth", "path": "demo:flood_depth_sindh_2022", "kind": "flood_depth"}


def _scenario(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "figures",
        "seed": 5,
        "hazards": [DEPTH],
        "eligibility": {"pmt_cutoff": 40, "hazard": [{"layer": "depth", "min_intensity": 0.2}]},
        "priority": {"weights": {"severity": 0.5, "poverty": 0.5}},
        "benefit": {"kind": "fixed", "amount": 25000},
        "budget": {"total": 25000 * 150},
        "quotas": {"level": "tehsil", "mode": "proportional"},
    }
    data.update(changes)
    return data


def _by_frame(caseload: Any) -> dict[str, Any]:
    """The run summary's way: the caseload's frame, as Parquet, grouped as text."""
    frame = caseload.frame
    columns = [c for c in AGGREGATE_COLUMNS if c in frame.columns]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame[columns], preserve_index=False), buffer)
    return compute_aggregates(pa.BufferReader(buffer.getvalue()))


@pytest.fixture(scope="module")
def loaded(registry_file: Path) -> Any:
    return load_registry(registry_file, snapshots=True)


@pytest.mark.parametrize(
    ("scenario", "overrides"),
    [
        (_scenario(), {"pmt_cutoff": 30}),
        (_scenario(), {"depth": 0.9, "amount": 30000}),
        (_scenario(quotas={"level": "district", "mode": "proportional"}), {"pmt_cutoff": 60}),
        (
            _scenario(
                benefit={
                    "kind": "household_size",
                    "brackets": [{"max_size": 4, "amount": 20000}, {"amount": 31000}],
                }
            ),
            {"pmt_cutoff": 35},
        ),
        (load_scenario(REPO / "scenarios" / "bisp_2022_as_done.yaml"), {"budget": 10**8}),
    ],
)
def test_array_figures_equal_the_summary_of_the_frame(
    loaded: Any, scenario: Any, overrides: dict[str, Any]
) -> None:
    base = scenario if not isinstance(scenario, dict) else load_scenario(scenario)
    result = whatif(base, overrides, loaded, ExposureCache())
    for caseload in (result.base, result.variant):
        fast = aggregates(caseload)
        assert fast == _by_frame(caseload)  # zero tolerance: same units, order and figures
        assert fast is not None and fast["totals"]["selected"] > 0
    moved = selection_changes(result.base, result.variant)
    assert moved == {name: result.comparison.totals[name] for name in ("added", "dropped", "kept")}


#: Transfers that differ by household, so each selected household's value must line up.
BY_SIZE = {
    "kind": "household_size",
    "brackets": [
        {"max_size": 3, "amount": 18000},
        {"max_size": 6, "amount": 25000},
        {"amount": 31000},
    ],
}


@pytest.mark.parametrize("benefit", [None, BY_SIZE])
def test_household_sets_equal_the_frame_sets(loaded: Any, benefit: dict[str, Any] | None) -> None:
    from rahat.api.service import whatif as service

    scenario = load_scenario(_scenario(**({"benefit": benefit} if benefit else {})))
    result = whatif(scenario, {"pmt_cutoff": 30}, loaded, ExposureCache())
    caseload = result.variant
    fast = household_sets(caseload)
    assert fast is not None
    assert len(caseload.frame)  # built from the arrays, then kept
    rows, caseload.rows = caseload.rows, None  # the frame's way
    slow = service.household_sets(caseload)
    caseload.rows = rows
    for name in ("considered", "eligible", "selected", "selected_benefit", "selected_persons"):
        assert np.array_equal(getattr(fast, name), getattr(slow, name)), name


def test_units_are_numbered_once_per_registry(loaded: Any) -> None:
    registry = loaded.registry
    assert unit_groups(registry) is unit_groups(registry)
    groups = unit_groups(registry)
    assert len(groups.per_row) == len(registry)
    # every district is the prefix of its tehsils: parents point into the district units
    district_of = groups.parent["district"]
    for i, tehsil in enumerate(groups.units["tehsil"]):
        assert groups.units["district"][district_of[i]] == tehsil[:3]


def test_base_memo_reuses_the_base_caseload(loaded: Any) -> None:
    memo = BaseMemo()
    cache = ExposureCache()
    base = load_scenario(_scenario())
    first = whatif(base, {"pmt_cutoff": 30}, loaded, cache, memo=memo)
    second = whatif(base, {"pmt_cutoff": 31}, loaded, cache, memo=memo)
    assert second.base is first.base
    other = whatif(load_scenario(_scenario(seed=6)), {"pmt_cutoff": 31}, loaded, cache, memo=memo)
    assert other.base is not first.base
    unmemoized = whatif(base, {"pmt_cutoff": 31}, loaded, cache)
    assert aggregates(unmemoized.base) == aggregates(second.base)
