"""Policy evaluation against a straightforward pandas/Python reference on the same data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from engine_helpers import FUNDED, changed_scenario, flood_scenario

from rahat.benchmarks.policy import BENCH_SCENARIO, DISTRICTS, bench_policy, synthetic_exposure
from rahat.engine.exposure import Exposure, HazardExposure
from rahat.engine.targeting import evaluate, load_scenario
from rahat.engine.targeting.budget import largest_remainder
from rahat.engine.targeting.ranking import keyed_hash
from rahat.engine.targeting.rules import at_least
from rahat.geo.errors import ScenarioError

N = 4000
M64 = (1 << 64) - 1

BASE = flood_scenario(
    "t",
    11,
    45,
    {
        "area_relative": {"level": "tehsil", "bottom_percent": 70},
        "dwelling": ["kacha", "semi_pakka"],
        "exclude": {"programmes": ["bisp_taleemi"]},
    },
    priority={
        "weights": {
            "severity": 0.3,
            "poverty": 0.25,
            "children_under5": 0.1,
            "elderly": 0.05,
            "disabled": 0.05,
            "female_headed": 0.05,
            "kacha": 0.1,
            "livelihood_loss": 0.1,
        }
    },
    **FUNDED,
)


@pytest.fixture(scope="module")
def exposure() -> Exposure:
    return synthetic_exposure(N, seed=3)


def scenario(**changes):
    return changed_scenario(BASE, **changes)


# ----------------------------------------------------------------------------- reference


def py_splitmix(x: int) -> int:
    z = (x + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def py_hash(hid: int, seed: int) -> int:
    key = py_splitmix((seed ^ 0x5241484154) & M64)
    return py_splitmix((hid & M64) ^ key)


def reference(s, ex: Exposure) -> pd.DataFrame:
    """Eligibility, score, rank and selection computed row by row / with plain pandas."""
    df = ex.registry.frame.copy()
    for col in ("province", "district", "tehsil", "dwelling", "livelihood", "programmes"):
        df[col] = df[col].astype(object)
    depth = ex.hazards["depth"].intensity
    df["depth"] = depth
    df["cls"] = ex.hazards["depth"].hazard_class.astype(int)
    df["h"] = [py_hash(int(h), s.seed) for h in df["household_id"]]
    e = s.eligibility
    f32 = np.float32
    affected = pd.Series(False, index=df.index)
    for rule in e.hazard:
        affected |= df["depth"] >= f32(rule.min_intensity)
    for rule in e.livelihood:
        if rule.seasons is None or s.season in rule.seasons:
            wanted = {v.value for v in rule.livelihoods}
            affected |= df["livelihood"].isin(wanted) & (df["depth"] >= f32(rule.min_intensity))
    ok = affected.copy()
    if e.pmt_cutoff is not None:
        ok &= df["pmt_score"] <= f32(e.pmt_cutoff)
    if e.area_relative is not None:
        pct = e.area_relative.bottom_percent
        srt = df.sort_values(["district", "tehsil", "pmt_score", "h"])
        pos = srt.groupby(["district", "tehsil"]).cumcount()
        size = srt.groupby(["district", "tehsil"])["h"].transform("size")
        passed = pos < np.ceil(size * pct / 100 - 1e-9)
        ok &= passed.reindex(df.index)
    if e.dwelling is not None:
        ok &= df["dwelling"].isin({d.value for d in e.dwelling})
    for prog in e.exclude.programmes:
        ok &= ~df["programmes"].fillna("").str.split("|").apply(lambda xs, p=prog: p in xs)
    df["eligible"] = ok
    w = s.priority.weights
    sev = np.clip(df["cls"], 0, None) / 3.0
    loss = {v.value for v in s.priority.loss_livelihoods}
    comps = {
        "severity": sev,
        "poverty": 1 - df["pmt_score"].astype(float) / 100,
        "children_under5": np.minimum(df["children_under5"], 3) / 3,
        "elderly": np.minimum(df["elderly"], 2) / 2,
        "disabled": np.minimum(df["disabled"], 2) / 2,
        "female_headed": df["female_headed"].astype(float),
        "kacha": df["dwelling"].map({"kacha": 1.0, "semi_pakka": 0.5, "pakka": 0.0}),
        "livelihood_loss": (df["livelihood"].isin(loss) & (sev > 0)).astype(float),
    }
    total = sum(getattr(w, k) * v for k, v in comps.items() if getattr(w, k) > 0)
    wsum = sum(getattr(w, k) for k in comps if getattr(w, k) > 0)
    df["score"] = total / wsum if wsum else 0.0
    el = df[df["eligible"]].sort_values(
        ["score", "h", "household_id"], ascending=[False, True, True]
    )
    el = el.assign(rank=np.arange(1, len(el) + 1))
    # budget: quotas by largest remainder in whole households, fill in rank order per unit
    cap = len(el) if s.budget.total is None else s.budget.total // s.benefit.amount
    if s.budget.max_households is not None:
        cap = min(cap, s.budget.max_households)
    if s.quotas is None:
        el["selected"] = el["rank"] <= cap
        return el
    units = sorted(
        df["district"].unique(), key=list(ex.registry.frame["district"].cat.categories).index
    )
    counts = [int((el["district"] == u).sum()) for u in units]
    if s.quotas.mode == "fixed":
        by_pcode = {p: name for _, name, p in DISTRICTS if p}
        shares = {by_pcode.get(k, k): v for k, v in s.quotas.shares.items()}
        weights = [shares.get(u, 0.0) for u in units]
    else:
        weights = counts
    exact = [cap * wt / sum(weights) for wt in weights]
    quota = [math.floor(x) for x in exact]
    for i in sorted(range(len(units)), key=lambda i: (-(exact[i] - quota[i]), i))[
        : cap - sum(quota)
    ]:
        quota[i] += 1
    taken = dict.fromkeys(units, 0)
    chosen = []
    for d in el["district"]:
        i = units.index(d)
        chosen.append(taken[d] < quota[i])
        taken[d] += 1
    el["selected"] = chosen
    return el


def check_against_reference(s, ex) -> None:
    c = evaluate(s, ex)
    ref = reference(s, ex)
    f = c.frame
    got = f[f["eligible"]]
    assert got["household_id"].tolist() == ref["household_id"].tolist()  # identical order
    np.testing.assert_allclose(got["score"].to_numpy(), ref["score"].to_numpy(), rtol=0, atol=1e-12)
    assert got["rank"].tolist() == ref["rank"].tolist()
    assert got["selected"].tolist() == ref["selected"].tolist()
    assert c.totals["selected"] == int(ref["selected"].sum())
    assert c.totals["amount"] == int(ref["selected"].sum()) * s.benefit.amount
    assert c.totals["eligible"] == len(ref)


# ----------------------------------------------------------------------------- tests


def test_keyed_hash_matches_python_splitmix() -> None:
    ids = np.array([1, 2, 3, 10**15, 2**62], dtype=np.int64)
    got = keyed_hash(ids, 42)
    assert [int(x) for x in got] == [py_hash(int(i), 42) for i in ids]
    assert not np.array_equal(keyed_hash(ids, 42), keyed_hash(ids, 43))


def test_all_rules_quotas_and_budget_match_reference(exposure) -> None:
    s = scenario()
    c = evaluate(s, exposure)
    assert 0 < c.totals["selected"] < c.totals["eligible"]  # the budget binds
    check_against_reference(s, exposure)


@pytest.mark.parametrize(
    "changes",
    [
        {"quotas": None},
        {
            "quotas": {
                "level": "district",
                "mode": "fixed",
                "shares": {"Dadu": 0.5, "PK707": 0.3, "Rajanpur": 0.2},
            }
        },
        {
            "eligibility.area_relative": None,
            "eligibility.dwelling": None,
            "budget": {"total": 10**9},
        },
        {
            "eligibility.livelihood": [],
            "eligibility.pmt_cutoff": 30,
            "budget": {"total": 10**6, "max_households": 7},
        },
        {"season": "rabi"},
        {"priority.weights": {"poverty": 1.0}},
        {"priority.weights": {}},  # all zero: a lottery by keyed hash
    ],
)
def test_variants_match_reference(exposure, changes) -> None:
    check_against_reference(scenario(**changes), exposure)


def test_threshold_compares_in_layer_dtype() -> None:
    depth = np.array([np.float32(0.7), np.float32(0.69), np.nan], dtype=np.float32)
    assert at_least(depth, 0.7).tolist() == [True, False, False]
    # the trap: float32(0.7) is 0.69999998... in float64
    assert (depth.astype(np.float64) >= 0.7).tolist() == [False, False, False]
    assert at_least(np.array([np.float32(0.3)]), 0.3).tolist() == [True]
    assert at_least(np.array([5, 6], dtype=np.int16), 5.5).tolist() == [False, True]


def test_rule_kinds_reasons_and_class_rule(exposure) -> None:
    s = scenario(**{"eligibility.hazard": [{"layer": "depth", "min_class": "medium"}]})
    c = evaluate(s, exposure)
    f = c.frame
    assert (
        f.loc[f["eligible"], "depth_class"].isin(["medium", "high"])
        | f.loc[f["eligible"], "reasons"].str.contains(
            "crop_farming/livestock&depth>=0.05@kharif:pass"
        )
    ).all()
    first = f.iloc[0]["reasons"]
    assert first.startswith("depth>=medium:")
    for label in (
        "pmt<=45:pass",
        "bottom70%/tehsil:pass",
        "dwelling=kacha/semi_pakka:pass",
        "not_in=bisp_taleemi:pass",
    ):
        assert label in first
    assert f["rank"].isna().tolist() == (~f["eligible"]).tolist()


def test_notified_units_by_name_and_pcode(exposure) -> None:
    s = scenario(
        **{
            "eligibility.hazard": [],
            "eligibility.livelihood": [],
            "eligibility.notified": {"level": "district", "units": ["dadu", "PK707"]},
        }
    )
    c = evaluate(s, exposure)
    f = c.frame
    assert set(f.loc[f["eligible"], "district"].astype(str)) == {"Dadu", "Jacobabad"}
    assert f["reasons"].str.contains("notified_district").all()


def test_assisted_list_excluded(exposure, tmp_path) -> None:
    first = evaluate(scenario(), exposure).frame
    paid = first.loc[first["selected"], "household_id"].head(25)
    path = tmp_path / "paid.csv"
    pd.DataFrame({"household_id": paid}).to_csv(path, index=False)
    c = evaluate(scenario(**{"eligibility.exclude.assisted_lists": [str(path)]}), exposure)
    f = c.frame
    assert not f.loc[f["household_id"].isin(paid), "eligible"].any()
    assert f.loc[f["household_id"].isin(paid), "reasons"].str.contains("not_assisted:fail").all()


def test_benefit_by_size_and_class(exposure) -> None:
    s = scenario(
        benefit={
            "kind": "household_size",
            "brackets": [
                {"max_size": 4, "amount": 20000},
                {"max_size": 8, "amount": 25000},
                {"amount": 30000},
            ],
        },
        budget={"total": 10**12},
    )
    f = evaluate(s, exposure).frame
    el = f[f["eligible"]]
    want = np.select([el["household_size"] <= 4, el["household_size"] <= 8], [20000, 25000], 30000)
    assert (el["benefit"].to_numpy() == want).all()
    s = scenario(
        benefit={
            "kind": "hazard_class",
            "layer": "depth",
            "amount": 10000,
            "by_class": {"high": 40000},
        },
        budget={"total": 10**12},
    )
    el = evaluate(s, exposure).frame.query("eligible")
    assert (el["benefit"].to_numpy() == np.where(el["depth_class"] == "high", 40000, 10000)).all()


def test_variable_benefit_budget_prefix_in_rank_order(exposure) -> None:
    s = scenario(
        benefit={
            "kind": "household_size",
            "brackets": [{"max_size": 5, "amount": 10000}, {"amount": 60000}],
        },
        quotas=None,
        budget={"total": 3_000_000},
    )
    c = evaluate(s, exposure)
    el = c.frame[c.frame["eligible"]]
    cum = el["benefit"].cumsum()
    assert el["selected"].tolist() == (cum <= 3_000_000).tolist()  # prefix: nobody jumps the queue
    assert c.totals["cut"]["last_selected_rank"] == int(el["selected"].sum())


def test_largest_remainder_exact() -> None:
    assert largest_remainder(10, [1, 1, 1]) == [4, 3, 3]
    assert sum(largest_remainder(12345, [3, 7, 11, 0, 5])) == 12345
    assert largest_remainder(5, [0, 0]) == [0, 0]


def test_determinism_and_registry_order_independence(exposure) -> None:
    s = scenario()
    a, b = evaluate(s, exposure).frame, evaluate(s, exposure).frame
    pd.testing.assert_frame_equal(a, b)
    shuffled = Exposure(
        registry=exposure.registry.take(np.arange(N)[::-1]),
        hazards={
            "depth": HazardExposure(
                name="depth",
                kind="flood_depth",
                units="m",
                intensity=exposure.hazards["depth"].intensity[::-1].copy(),
                hazard_class=exposure.hazards["depth"].hazard_class[::-1].copy(),
                class_labels=exposure.hazards["depth"].class_labels,
            )
        },
    )
    c = evaluate(s, shuffled).frame
    assert (
        c.loc[c["eligible"], "household_id"].tolist()
        == a.loc[a["eligible"], "household_id"].tolist()
    )


def test_summary_and_totals(exposure) -> None:
    c = evaluate(scenario(), exposure)
    summ = c.summary()
    total = summ[summ["level"] == "total"].iloc[0]
    assert total["households"] == c.totals["selected"]
    assert total["amount"] == c.totals["amount"]
    dist = summ[summ["level"] == "district"]
    assert dist["households"].sum() == c.totals["selected"]
    assert dist["people"].sum() == c.totals["people"]
    assert set(summ["level"]) == {"total", "province", "district", "tehsil"}
    assert dist.loc[dist["district"] == "Dadu", "pcode"].iloc[0] == "PK703"
    f = c.frame
    exp = f["exposed"]
    assert c.totals["exposed_reached_share"] == pytest.approx(
        (f["selected"] & exp).sum() / exp.sum()
    )


def test_explain_zero_households_suggests_looser_pmt(exposure) -> None:
    s = scenario(**{"eligibility.pmt_cutoff": 1, "eligibility.area_relative": None})
    c = evaluate(s, exposure)
    assert c.totals["selected"] == 0
    msg = c.explain()[0]
    assert msg.startswith(
        "0 households: the footprint covers no registered household with PMT <= 1;"
    )
    assert "would qualify at PMT <= " in msg


def test_explain_empty_footprint(exposure) -> None:
    c = evaluate(
        scenario(
            **{
                "eligibility.hazard": [{"layer": "depth", "min_intensity": 99}],
                "eligibility.livelihood": [],
            }
        ),
        exposure,
    )
    assert "footprint covers no registered household" in c.explain()[0]


def test_missing_layer_in_exposure(exposure) -> None:
    s = scenario(
        hazards=[{"name": "mmi", "path": "demo:earthquake_mmi_harnai", "kind": "earthquake_mmi"}],
        **{
            "eligibility.hazard": [{"layer": "mmi", "min_intensity": 6}],
            "eligibility.livelihood": [],
        },
    )
    with pytest.raises(ScenarioError, match="hazard layer 'mmi' is not in the exposure"):
        evaluate(s, exposure)


def test_bench_policy_small() -> None:
    """The bench's figures are those of the pandas reference on the bench's own scenario."""
    n = 20_000
    out = bench_policy(n, repeats=1)
    cap = n // 20  # the bench's budget: max_households
    ref = reference(
        load_scenario({**BENCH_SCENARIO, "budget": {"max_households": cap}}), synthetic_exposure(n)
    )
    assert out["households"] == n
    assert out["eligible"] == len(ref) > cap  # enough eligible households for the budget to bind
    assert out["selected"] == int(ref["selected"].sum()) == cap
    assert out["seconds"] > 0 and out["first_run_s"] > 0 and out["households_per_s"] > 0
