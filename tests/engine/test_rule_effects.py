"""Each rule kind changes the result when it should; area-relative rules fall back a level.

Issue items 3 (households with no tehsil always failed "bottom 40 % per tehsil") and 7 (the
anticipatory scenario's livelihood rule changed nothing).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from engine_helpers import changed_scenario, flood_scenario

from rahat.benchmarks.policy import synthetic_exposure
from rahat.engine.exposure import Exposure
from rahat.engine.targeting import evaluate, load_scenario
from rahat.engine.targeting.ranking import keyed_hash
from rahat.engine.targeting.rules import evaluate_rules
from rahat.geo.errors import ScenarioError
from rahat.geo.paths import scenarios_dir
from rahat.geo.registry.model import Registry

N = 3000

BASE = flood_scenario(
    "effects",
    5,
    50,
    {
        "area_relative": {"level": "tehsil", "bottom_percent": 60},
        "notified": {"level": "district", "units": ["Dadu", "Larkana", "Jacobabad", "Sanghar"]},
        "dwelling": ["kacha", "semi_pakka"],
        "exclude": {"programmes": ["bisp_taleemi"]},
    },
    benefit={"kind": "fixed", "amount": 25000},
)


def make(**changes: object):
    return changed_scenario(BASE, **changes)


@pytest.fixture(scope="module")
def exposure() -> Exposure:
    return synthetic_exposure(N, seed=9)


def eligible_ids(scenario, exposure: Exposure) -> set[int]:
    rules = evaluate_rules(scenario, exposure)
    return set(exposure.registry.household_id[rules.eligible].tolist())


# ------------------------------------------------------------------------- item 7: rule kinds


@pytest.mark.parametrize(
    ("rule", "change"),
    [
        ("pmt", {"eligibility.pmt_cutoff": None}),
        ("area_relative", {"eligibility.area_relative": None}),
        ("notified", {"eligibility.notified": None}),
        ("dwelling", {"eligibility.dwelling": None}),
        ("programmes", {"eligibility.exclude": None}),
        ("hazard", {"eligibility.hazard": [{"layer": "depth", "min_intensity": 1.0}]}),
        ("livelihood", {"eligibility.livelihood": []}),
        ("livelihood season", {"season": "rabi"}),
        (
            "livelihood kinds",
            {
                "eligibility.livelihood": [
                    {"livelihoods": ["fishing"], "layer": "depth", "min_intensity": 0.05}
                ]
            },
        ),
    ],
)
def test_each_rule_kind_changes_the_result(exposure, rule, change) -> None:
    changed = make(**change)
    base = eligible_ids(make(), exposure)
    assert base, "the base scenario must select someone for the comparison to mean anything"
    assert eligible_ids(changed, exposure) != base, f"the {rule} rule changed nothing"


def test_assisted_list_changes_the_result(exposure, tmp_path: Path) -> None:
    base = eligible_ids(make(), exposure)
    some = sorted(base)[:7]
    lst = tmp_path / "paid.csv"
    lst.write_text("household_id\n" + "\n".join(map(str, some)) + "\n")
    got = eligible_ids(
        make(
            **{
                "eligibility.exclude": {
                    "programmes": ["bisp_taleemi"],
                    "assisted_lists": [str(lst)],
                }
            }
        ),
        exposure,
    )
    assert got == base - set(some)


def test_livelihood_rule_subsumed_by_a_hazard_rule_is_refused() -> None:
    data = copy.deepcopy(BASE)
    data["eligibility"]["livelihood"][0]["min_intensity"] = 0.3  # same bound as the hazard rule
    with pytest.raises(ScenarioError, match=r"livelihood\[0\]: changes nothing"):
        load_scenario(data)
    data["eligibility"]["livelihood"][0]["min_intensity"] = None
    data["eligibility"]["livelihood"][0]["min_class"] = "medium"  # depth >= 0.5 >= 0.3
    with pytest.raises(ScenarioError, match=r"livelihood\[0\]: changes nothing"):
        load_scenario(data)
    data["eligibility"]["livelihood"][0]["min_class"] = "low"  # depth >= 0.1: reaches beyond
    load_scenario(data)


def test_livelihood_rule_that_adds_nobody_is_a_warning(exposure) -> None:
    # Not decidable from the scenario (the hazard rule has an upper bound), decided on the data:
    # no depth reaches 1000 m, so the hazard rule admits every household with depth >= 0.
    s = make(
        **{
            "eligibility.hazard": [{"layer": "depth", "min_intensity": 0.0, "max_intensity": 1e3}],
            "eligibility.livelihood": [
                {"livelihoods": ["livestock"], "layer": "depth", "min_class": "low"}
            ],
        }
    )
    rules = evaluate_rules(s, exposure)
    assert any("changes nothing" in w and "livestock" in w for w in rules.warnings)
    assert not evaluate_rules(make(), exposure).warnings


@pytest.fixture(scope="module")
def anticipatory(registry_2k: Path):
    """The shipped anticipatory scenario's overlay on a small demo registry (real MoM alerts)."""
    from rahat.engine.pipeline import ExposureCache, load_hazards, load_registry

    scenario = load_scenario(scenarios_dir() / "anticipatory_mom_2022.yaml")
    loaded = load_registry(registry_2k)
    registry = getattr(loaded, "registry", None) or loaded[0]
    hazards = load_hazards(scenario, registry_extent=registry.bounds())
    return scenario, ExposureCache().exposure(registry, hazards)


def test_anticipatory_livelihood_rules_change_the_caseload(anticipatory) -> None:
    scenario, exposure = anticipatory
    as_shipped = evaluate_rules(scenario, exposure)
    without = evaluate_rules(scenario.with_updates({"eligibility.livelihood": []}), exposure)
    rabi = evaluate_rules(scenario.with_updates({"season": "rabi"}), exposure)
    n, n_without, n_rabi = (int(r.eligible.sum()) for r in (as_shipped, without, rabi))
    assert n_without < n_rabi < n  # livestock keepers in any season, crop farmers in kharif
    assert not as_shipped.warnings
    frame = exposure.registry.frame
    added = as_shipped.eligible & ~without.eligible
    assert set(frame["livelihood"].to_numpy()[added].astype(str)) == {"crop_farming", "livestock"}
    dropped_in_rabi = as_shipped.eligible & ~rabi.eligible
    assert set(frame["livelihood"].to_numpy()[dropped_in_rabi].astype(str)) == {"crop_farming"}


# --------------------------------------------------------------- item 3: next level up fallback


def _without_tehsil(exposure: Exposure, district: str, also: int) -> Exposure:
    """The exposure with no tehsil for all of ``district`` and ``also`` other households."""
    frame = exposure.registry.frame.copy()
    gone = (frame["district"].astype(str) == district).to_numpy().copy()
    others = np.flatnonzero(~gone)[:: max(1, (len(frame) - gone.sum()) // also)][:also]
    gone[others] = True
    for col in ("tehsil", "tehsil_pcode"):
        if col in frame.columns:
            frame.loc[gone, col] = np.nan
    return Exposure(registry=Registry.from_frame(frame), hazards=exposure.hazards)


def reference_bottom(exposure: Exposure, percent: float, seed: int) -> np.ndarray:
    """Bottom ``percent`` % per (district, tehsil); households with no tehsil per district."""
    df = exposure.registry.frame[["district", "tehsil", "pmt_score"]].copy()
    df["district"] = df["district"].astype(object)
    df["tehsil"] = df["tehsil"].astype(object)
    df["h"] = keyed_hash(exposure.registry.household_id, seed)
    out = np.zeros(len(df), dtype=bool)
    for keys, idx in (
        (["district", "tehsil"], df.index[df["tehsil"].notna()]),
        (["district"], df.index),
    ):
        part = df.loc[idx].sort_values([*keys, "pmt_score", "h"])
        pos = part.groupby(keys).cumcount()
        size = part.groupby(keys)["h"].transform("size")
        passed = (pos < np.ceil(size * percent / 100 - 1e-9)).reindex(df.index)
        if keys == ["district", "tehsil"]:
            out[idx] = passed[idx].to_numpy(dtype=bool)
        else:
            no_tehsil = df["tehsil"].isna().to_numpy()
            out[no_tehsil] = passed[no_tehsil].to_numpy(dtype=bool)
    return out


def test_households_without_tehsil_ranked_within_their_district(exposure) -> None:
    district = str(exposure.registry.frame["district"].astype(str).iloc[0])
    ex = _without_tehsil(exposure, district, also=40)
    s = make(
        **{
            "eligibility.hazard": None,
            "eligibility.livelihood": None,
            "eligibility.pmt_cutoff": None,
            "eligibility.dwelling": None,
            "eligibility.exclude": None,
            "eligibility.notified": {"level": "district", "units": [district]},
            "eligibility.area_relative": {"level": "tehsil", "bottom_percent": 40},
        }
    )
    rules = evaluate_rules(s, ex)
    area = next(r for r in rules.rules if r.key == "area_relative")
    np.testing.assert_array_equal(area.passed, reference_bottom(ex, 40, s.seed))
    in_district = (ex.registry.frame["district"].astype(str) == district).to_numpy()
    n_in = int(in_district.sum())
    assert int(rules.eligible.sum()) == int(np.ceil(n_in * 0.4 - 1e-9)) > 0
    assert area.label == "bottom40%/tehsil(else district)"
    assert len(rules.warnings) == 1 and "ranked them within their district" in rules.warnings[0]
    assert district in rules.warnings[0]

    caseload = evaluate(s, ex)
    reasons = caseload.frame["reasons"].astype(str)
    assert reasons.str.contains("bottom40%/tehsil\\(else district\\):pass").any()
    rows = caseload.summary()
    assert district in set(rows.loc[rows["level"] == "district", "district"])


def test_no_fallback_keeps_the_plain_label(exposure) -> None:
    rules = evaluate_rules(make(), exposure)
    labels = [r.label for r in rules.rules if r.key == "area_relative"]
    assert labels == ["bottom60%/tehsil"] and not rules.warnings


def test_notified_unit_with_nobody_eligible_stays_in_the_summary(exposure) -> None:
    district = str(exposure.registry.frame["district"].astype(str).iloc[0])
    s = make(
        **{
            "eligibility.hazard": None,
            "eligibility.livelihood": None,
            "eligibility.area_relative": None,
            "eligibility.dwelling": None,
            "eligibility.exclude": None,
            "eligibility.pmt_cutoff": 0,  # nobody passes
            "eligibility.notified": {"level": "district", "units": [district]},
        }
    )
    rows = evaluate(s, exposure).summary()
    hit = rows[(rows["level"] == "district") & (rows["district"] == district)]
    assert len(hit) == 1 and int(hit["eligible"].iloc[0]) == 0


def test_bisp_notified_districts_without_tehsils_get_beneficiaries(registry_2k: Path) -> None:
    """Kachhi (Bolan) and Musa Khel: no tehsil in the registry, notified by BISP in 2022."""
    from rahat.engine.pipeline import ExposureCache, load_hazards, load_registry

    scenario = load_scenario(scenarios_dir() / "bisp_2022_as_done.yaml")
    loaded = load_registry(registry_2k)
    registry = getattr(loaded, "registry", None) or loaded[0]
    exposure = ExposureCache().exposure(
        registry, load_hazards(scenario, registry_extent=registry.bounds())
    )
    caseload = evaluate(scenario, exposure)
    frame = caseload.frame
    rules = evaluate_rules(scenario, exposure)
    assert any("Kachhi (Bolan)" in w and "Musa Khel" in w for w in rules.warnings)
    assert set(rules.warnings) <= set(caseload.warnings)  # they reach the run's manifest
    summary = caseload.summary()
    districts = summary[summary["level"] == "district"].set_index("district")
    for district in ("Kachhi (Bolan)", "Musa Khel"):
        rows = frame[frame["district"].astype(str) == district]
        assert len(rows) and rows["tehsil"].isna().all()
        assert rows["selected"].sum() >= 1
        assert rows["reasons"].astype(str).str.contains("tehsil\\(else district\\)").all()
        assert districts.loc[district, "households"] >= 1
    # every notified district with registered households is in the summary
    present = set(registry.frame["district"].astype(str))
    notified = {u for u in scenario.eligibility.notified.units if u in present}
    assert notified <= set(districts.index)


@pytest.fixture(scope="module")
def registry_2k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rahat.geo.registry.synth import write_demo

    _, registry = write_demo(2000, 7, tmp_path_factory.mktemp("registry"))
    return registry
