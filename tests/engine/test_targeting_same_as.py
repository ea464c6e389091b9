"""``budget.same_as``: a budget that is what another scenario spends (chains, cycles, names)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rahat.engine.targeting import load_scenario
from rahat.engine.targeting.budget import capacities, find_scenario, resolve_same_as
from rahat.geo.errors import ScenarioError


def scenario(name: str, budget: dict[str, object], **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "eligibility": {"pmt_cutoff": 32, "notified": {"level": "district", "units": ["Dadu"]}},
        "benefit": {"kind": "fixed", "amount": 25000},
        "budget": budget,
        **extra,
    }


def write(folder: Path, file: str, data: dict[str, object]) -> Path:
    path = folder / file
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def spend_by_name(amounts: dict[str, int], calls: list[str]):
    def spend(s) -> int:
        assert s.budget.same_as is None  # evaluated only once resolved
        calls.append(s.name)
        return amounts[s.name]

    return spend


def test_same_as_takes_the_named_scenarios_spend_following_chains(tmp_path) -> None:
    write(tmp_path, "base.yaml", scenario("base", {"total": 10**9}))
    write(tmp_path, "middle.yml", scenario("the_middle", {"same_as": "base"}))
    top = load_scenario(write(tmp_path, "top.yaml", scenario("top", {"same_as": "middle.yml"})))
    calls: list[str] = []
    out, chain = resolve_same_as(top, spend_by_name({"base": 7, "the_middle": 5}, calls))
    assert out.budget.total == 5 and out.budget.same_as is None
    assert chain == [("the_middle", 5), ("base", 7)]
    assert calls == ["base", "the_middle"]
    assert out.base_dir == top.base_dir  # relative paths still resolve against its folder
    # by the scenario's name field too, and with max_households kept
    by_name = load_scenario(
        write(tmp_path, "x.yaml", scenario("x", {"same_as": "the_middle", "max_households": 3}))
    )
    out2, _ = resolve_same_as(by_name, spend_by_name({"base": 7, "the_middle": 5}, []))
    assert (out2.budget.total, out2.budget.max_households) == (5, 3)


def test_inline_scenarios_look_in_the_given_folder(tmp_path) -> None:
    write(tmp_path, "base.yaml", scenario("base", {}))
    inline = load_scenario(scenario("inline", {"same_as": "base"}))
    assert inline.base_dir is None
    out, _ = resolve_same_as(inline, lambda s: 42, folder=tmp_path)
    assert out.budget.total == 42


def test_cycles_and_unknown_names_are_refused_with_the_valid_names(tmp_path) -> None:
    write(tmp_path, "a.yaml", scenario("a", {"same_as": "b"}))
    write(tmp_path, "b.yaml", scenario("b", {"same_as": "a"}))
    write(tmp_path, "c.yaml", scenario("c", {"same_as": "c"}))
    with pytest.raises(ScenarioError, match=r"cycle a -> b -> a"):
        resolve_same_as(load_scenario(tmp_path / "a.yaml"), lambda s: 1)
    with pytest.raises(ScenarioError, match=r"cycle c -> c"):
        resolve_same_as(load_scenario(tmp_path / "c.yaml"), lambda s: 1)
    lost = load_scenario(scenario("lost", {"same_as": "bb"}))
    with pytest.raises(ScenarioError) as err:
        resolve_same_as(lost, lambda s: 1, folder=tmp_path)
    message = str(err.value)
    assert "no scenario 'bb'" in message and "valid: a, b, c" in message
    assert str(tmp_path) not in message  # never the server's folder


def test_same_as_is_a_plain_name_and_excludes_total(tmp_path) -> None:
    for bad in ("../secret", "/etc/passwd", "sub/x.yaml"):
        with pytest.raises(ScenarioError, match=r"budget\.same_as"):
            load_scenario(scenario("x", {"same_as": bad}))
    with pytest.raises(ScenarioError, match="either total or same_as"):
        load_scenario(scenario("x", {"same_as": "base", "total": 5}))
    with pytest.raises(ScenarioError, match="valid: "):
        find_scenario("..", tmp_path)
    # same_as is a budget quotas can split
    load_scenario(scenario("x", {"same_as": "base"}, quotas={"level": "district"}))


def test_an_unresolved_same_as_is_never_read_as_no_limit() -> None:
    s = load_scenario(scenario("x", {"same_as": "base"}))
    with pytest.raises(ScenarioError, match="not resolved"):
        capacities(s.budget, 25000)
