"""Hostile scenarios: bounds on every value, safe file reading, checked money, short titles."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rahat.benchmarks.policy import BENCH_SCENARIO, synthetic_exposure
from rahat.engine.targeting import evaluate, load_scenario
from rahat.engine.targeting.benefit import benefits
from rahat.engine.targeting.budget import allocate
from rahat.engine.targeting.money import MAX_AMOUNT, MoneyOverflowError, checked_total
from rahat.engine.targeting.scenario import Benefit, Budget
from rahat.engine.targeting.scenario_files import MAX_SCENARIO_BYTES
from rahat.engine.targeting.sweep import parse_range
from rahat.geo.errors import ScenarioError

GOOD: dict[str, Any] = {
    "name": "ok",
    "hazards": [{"name": "depth", "path": "demo:flood_depth_sindh_2022", "kind": "flood_depth"}],
    "eligibility": {"pmt_cutoff": 32, "hazard": [{"layer": "depth", "min_intensity": 0.3}]},
    "benefit": {"kind": "fixed", "amount": 25000},
    "budget": {"total": 10**9},
    "quotas": {"level": "district", "mode": "proportional"},
}

BRACKETS = {
    "kind": "household_size",
    "brackets": [{"max_size": 5, "amount": 20000}, {"amount": 2**63}],
}


def with_(path: str, value: Any) -> dict[str, Any]:
    """GOOD with the dotted ``path`` set to ``value`` (integers index lists)."""
    data = copy.deepcopy(GOOD)
    node: Any = data
    *head, last = path.split(".")
    for part in head:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    node[last] = value
    return data


def refused(data: Any, fragment: str) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(data)
    message = str(info.value)
    assert fragment in message, message
    assert len(message) < 2000, "the message must not echo the hostile value"
    return message


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        ("budget.total", 10**30, "budget.total: Input should be less than or equal to"),
        ("budget.max_households", 10**30, "budget.max_households: Input should be less"),
        ("benefit.amount", 10**17, "benefit.amount: Input should be less than or equal to"),
        ("benefit", BRACKETS, "benefit.brackets[1].amount: Input should be less"),
    ],
)
def test_huge_numbers_are_refused(path: str, value: Any, fragment: str) -> None:
    refused(with_(path, value), fragment)


def test_huge_by_class_amount_is_refused() -> None:
    benefit = {"kind": "hazard_class", "layer": "depth", "amount": 1, "by_class": {"high": 10**17}}
    refused(with_("benefit", benefit), "benefit.by_class.high: Input should be less")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("eligibility.hazard.0.min_intensity", float("inf")),
        ("eligibility.hazard.0.min_intensity", float("nan")),
        ("priority", {"weights": {"poverty": float("inf")}}),
        ("quotas", {"level": "district", "mode": "fixed", "shares": {"Dadu": float("nan")}}),
        ("eligibility.area_relative", {"level": "tehsil", "bottom_percent": float("nan")}),
    ],
)
def test_nan_and_infinity_are_refused(path: str, value: float) -> None:
    refused(with_(path, value), "finite number")


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        ("name", "x" * 2_000_000, "larger than 1,000,000 bytes"),
        ("name", "x" * 201, "name: String should have at most 200 characters"),
        ("description", "d" * 2_001, "description: String should have at most 2000 characters"),
        ("hazards.0.path", "demo:" + "p" * 1_100, "hazards[0].path: String should have at most"),
        ("eligibility.notified", {"level": "district", "units": ["Dadu"] * 10_001}, "units"),
        ("eligibility.exclude", {"programmes": ["p" * 300]}, "at most 200 characters"),
        ("x" * 100_000, 1, "unknown field"),
    ],
)
def test_long_strings_and_lists_are_refused_fast(path: str, value: Any, fragment: str) -> None:
    data = with_(path, value)
    start = time.perf_counter()
    refused(data, fragment)
    assert time.perf_counter() - start < 1.0


def test_long_name_in_a_file_is_refused_fast(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text("name: " + "x" * 900_000 + "\n")
    start = time.perf_counter()
    refused(path, "name: String should have at most 200 characters")
    assert time.perf_counter() - start < 1.0


def test_file_over_the_cap_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as fh:
        fh.truncate(8 * 2**30)  # a sparse 8 GB file: reading it all would take minutes
    start = time.perf_counter()
    refused(path, f"larger than {MAX_SCENARIO_BYTES:,} bytes")
    assert time.perf_counter() - start < 1.0


def test_deep_yaml_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("name: " + "[" * 10_000 + "]" * 10_000 + "\n")
    start = time.perf_counter()
    refused(path, "nested more than 20 levels deep")
    assert time.perf_counter() - start < 1.0


def test_deep_mapping_is_refused_quickly() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(10_000):
        node["a"] = {}
        node = node["a"]
    start = time.perf_counter()
    refused(with_("hazards.0.classes", deep), "nested more than 20 levels deep")
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "not a text file"),
        (b"name: \xff\xfe caf\xe9\n", "not UTF-8 text"),
    ],
)
def test_binary_file_is_refused(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_bytes(content)
    refused(path, fragment)


def test_yaml_aliases_are_refused(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\nname: *a9\n")
    start = time.perf_counter()
    refused(path, "anchors and aliases")
    assert time.perf_counter() - start < 1.0


def test_too_many_values_are_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "wide.yaml"
    path.write_text("name: x\nunits: [" + ",".join(["1"] * 200_000) + "]\n")
    start = time.perf_counter()
    refused(path, "more than 50,000 values")
    assert time.perf_counter() - start < 1.0


def test_many_problems_are_listed_briefly() -> None:
    hazards = [{"name": "bad name", "path": "demo:x", "kind": "k"}] * 100
    message = refused(with_("hazards", hazards), "problems")
    assert "more" in message and message.count("\n") <= 22


def test_checked_total_refuses_instead_of_wrapping() -> None:
    amounts = np.full(100, 10**17, dtype=np.int64)
    assert int(amounts.sum()) != 10**19  # what int64 arithmetic gives: wrapped
    with pytest.raises(MoneyOverflowError, match="exceeds"):
        checked_total(amounts)
    with pytest.raises(MoneyOverflowError, match="negative"):
        checked_total(np.array([5, -1]))
    with pytest.raises(MoneyOverflowError, match="whole numbers"):
        checked_total(np.array([1.5]))
    assert checked_total(np.full(1000, MAX_AMOUNT, dtype=np.int64)) == 1000 * MAX_AMOUNT
    assert checked_total([2**62, 2**62 - 1]) == 2**63 - 1
    assert checked_total(np.array([], dtype=np.int64)) == 0


def test_benefits_refuse_a_sum_beyond_int64() -> None:
    exposure = synthetic_exposure(300, seed=3)
    scenario = load_scenario({**BENCH_SCENARIO, "budget": {"max_households": 100}})
    # A transfer above the schema's bound, as a careless caller could build one.
    hostile = scenario.model_copy(update={"benefit": Benefit.model_construct(amount=10**17)})
    with pytest.raises(MoneyOverflowError):
        benefits(hostile, exposure, np.arange(200))


def test_budget_fill_sums_are_exact_integers() -> None:
    costs = np.array([2**53, 1, 1], dtype=np.int64)  # a float64 sum would lose the ones
    allocation = allocate(np.zeros(3, dtype=np.int64), costs, 1, Budget(), None)
    assert allocation.selected.all()
    assert int(allocation.quotas["amount"].sum()) == 2**53 + 2


@pytest.mark.parametrize("text", ["0:1e30:1", "0:1e17:0.5", "nan,1", "inf", "1e400"])
def test_sweep_ranges_are_bounded(text: str) -> None:
    start = time.perf_counter()
    with pytest.raises(ScenarioError, match="range"):
        parse_range(text)
    assert time.perf_counter() - start < 1.0


def test_long_allowed_name_is_shortened_in_the_map_title(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib.axes

    from rahat.engine.targeting.maps import caseload_map

    titles: list[str] = []
    original = matplotlib.axes.Axes.set_title

    def spy(self: Any, label: str, *args: Any, **kwargs: Any) -> Any:
        titles.append(label)
        return original(self, label, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "set_title", spy)
    exposure = synthetic_exposure(300, seed=3)
    name = "n" * 200  # the longest name allowed
    data = {**BENCH_SCENARIO, "name": name, "budget": {"max_households": 100}}
    caseload = evaluate(load_scenario(data), exposure)
    start = time.perf_counter()
    caseload_map(caseload, tmp_path / "map.png")
    assert time.perf_counter() - start < 20
    assert titles and name not in titles[0]
    assert titles[0].startswith("n" * 79 + "…: ")
