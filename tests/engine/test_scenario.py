"""Scenario schema: loading, and one clear error per kind of bad scenario."""

from __future__ import annotations

import copy
import json

import pytest

from rahat.engine.targeting import known_admin_units, load_scenario, validate_against
from rahat.geo.errors import ScenarioError, UnreadableFileError
from rahat.geo.paths import scenarios_dir

GOOD = {
    "name": "ok",
    "season": "kharif",
    "hazards": [{"name": "depth", "path": "demo:flood_depth_sindh_2022", "kind": "flood_depth"}],
    "eligibility": {"pmt_cutoff": 32, "hazard": [{"layer": "depth", "min_intensity": 0.3}]},
    "benefit": {"kind": "fixed", "amount": 25000},
    "budget": {"total": 10**9},
    "quotas": {"level": "district", "mode": "proportional"},
}


def bad(path: str, value, *, delete: bool = False) -> dict:
    data = copy.deepcopy(GOOD)
    node = data
    *head, last = path.split(".")
    for part in head:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if delete:
        del node[last]
    else:
        node[last] = value
    return data


CASES = [
    # (what, scenario, expected fragment of the message)
    (
        "unknown field",
        bad("eligibility.pmt_cutof", 3),
        "eligibility.pmt_cutof: unknown field; did you mean 'pmt_cutoff'?",
    ),
    ("unknown top-level field", bad("budjet", {}), "budjet: unknown field; did you mean 'budget'?"),
    (
        "negative budget",
        bad("budget.total", -5),
        "budget.total: Input should be greater than or equal to 0",
    ),
    ("pmt out of range", bad("eligibility.pmt_cutoff", -1), "eligibility.pmt_cutoff"),
    (
        "empty hazard list",
        bad("hazards", []),
        "refers to hazard layer 'depth' but the hazard list is empty",
    ),
    (
        "unknown layer",
        bad("eligibility.hazard", [{"layer": "dept", "min_intensity": 1}]),
        "no hazard layer named 'dept'; did you mean 'depth'?",
    ),
    (
        "min > max",
        bad("eligibility.hazard", [{"layer": "depth", "min_intensity": 2, "max_intensity": 1}]),
        "min_intensity 2.0 > max_intensity 1.0",
    ),
    (
        "class above highest",
        bad("eligibility.hazard", [{"layer": "depth", "min_class": 7}]),
        "class 7 is above the highest class of layer 'depth'",
    ),
    (
        "unknown class label",
        bad("eligibility.hazard", [{"layer": "depth", "min_class": "hihg"}]),
        "unknown class 'hihg' for layer 'depth' (flood_depth); did you mean 'high'?",
    ),
    (
        "unknown kind",
        bad("hazards.0.kind", "flood_dept"),
        "unknown hazard kind 'flood_dept'; did you mean 'flood_depth'?",
    ),
    (
        "shares not summing to 1",
        bad(
            "quotas", {"level": "district", "mode": "fixed", "shares": {"Dadu": 0.5, "Badin": 0.4}}
        ),
        "quotas.shares: shares sum to 0.9, not 1",
    ),
    (
        "no geographic rule",
        bad("eligibility", {"pmt_cutoff": 30}),
        "every registered household would qualify",
    ),
    ("empty dwelling list", bad("eligibility.dwelling", []), "eligibility.dwelling: empty list"),
    (
        "unknown programme",
        bad("eligibility.exclude", {"programmes": ["bisp_kafalat"]}),
        "did you mean 'bisp_kafaalat'?",
    ),
    (
        "seasonal rule without season",
        bad("season", None, delete=True)
        | {
            "eligibility": {
                "livelihood": [
                    {
                        "livelihoods": ["livestock"],
                        "layer": "depth",
                        "min_intensity": 0.5,
                        "seasons": ["kharif"],
                    }
                ]
            }
        },
        "the scenario sets none",
    ),
    (
        "fixed benefit without amount",
        bad("benefit", {"kind": "fixed"}),
        "benefit.amount: required for a fixed transfer",
    ),
    ("quotas without budget", bad("budget", {}), "quotas: need a budget"),
    (
        "unknown demo layer",
        bad("hazards.0.path", "demo:flood_depth_sind"),
        "unknown demo layer 'flood_depth_sind'",
    ),
    ("missing field", bad("benefit", None, delete=True), "benefit: required field is missing"),
    (
        "bad livelihood",
        bad(
            "eligibility.livelihood",
            [{"livelihoods": ["farming"], "layer": "depth", "min_intensity": 0.1}],
        ),
        "eligibility.livelihood[0].livelihoods[0]",
    ),
]


@pytest.mark.parametrize(("what", "data", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_bad_scenarios_name_the_problem(what, data, fragment) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(data)
    assert fragment in str(info.value), str(info.value)


def test_all_problems_in_one_error(tmp_path) -> None:
    data = bad("budget.total", -1)
    data["eligibility"]["pmt_cutof"] = 3
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps(data))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message.startswith(f"{path}: invalid scenario, 2 problems:")
    assert "budget.total" in message and "pmt_cutof" in message


def test_unreadable_and_non_mapping(tmp_path) -> None:
    with pytest.raises(UnreadableFileError):
        load_scenario(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ScenarioError, match="must be a mapping"):
        load_scenario(tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n")
    with pytest.raises(UnreadableFileError, match="not valid YAML"):
        load_scenario(tmp_path / "broken.yaml")


def test_unknown_units_against_boundaries() -> None:
    data = copy.deepcopy(GOOD)
    data["eligibility"]["notified"] = {
        "level": "district",
        "units": ["Dadu", "PK707", "Dadoo", "PK799"],
    }
    s = load_scenario(data)
    with pytest.raises(ScenarioError) as info:
        validate_against(s, known_admin_units())
    message = str(info.value)
    assert (
        "eligibility.notified.units[2]: unknown district 'Dadoo'; did you mean 'Dadu'?" in message
    )
    assert "eligibility.notified.units[3]: unknown P-code 'PK799'" in message
    assert "units[0]" not in message and "units[1]" not in message


def test_shipped_scenarios_load_and_validate() -> None:
    files = sorted(scenarios_dir().glob("*.yaml"))
    assert {f.stem for f in files} >= {
        "bisp_2022_as_done",
        "flood_2022_footprint",
        "anticipatory_mom_2022",
        "earthquake_harnai",
    }
    units = known_admin_units()
    for f in files:
        s = load_scenario(f)
        validate_against(s, units)
        for h in s.hazards:
            assert h.path.startswith("demo:") or s.resolve_path(h.path).exists()


def test_with_updates_and_json_round_trip() -> None:
    s = load_scenario(GOOD)
    t = s.with_updates({"eligibility.pmt_cutoff": 40, "eligibility.hazard.0.min_intensity": 0.5})
    assert t.eligibility.pmt_cutoff == 40 and t.eligibility.hazard[0].min_intensity == 0.5
    assert load_scenario(json.loads(s.canonical_json())) == s
    with pytest.raises(ScenarioError, match=r"budget\.total"):
        s.with_updates({"budget.total": -3})
