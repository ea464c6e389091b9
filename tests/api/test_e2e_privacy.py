"""Issue 9 attacks against ``rahat serve`` as a real process (SQLite, and PostgreSQL in CI).

An agency runs the real pipeline on a synthetic registry three times; then it plays the
reviewer's subtraction attack over every level of every run, the same attack through the
comparisons, and a linear-programming attacker over everything it was shown. An NGO tries to
read runs it was not given, units and fields outside its agreement, and filters by levels its
agreement does not grant.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import httpx
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import (
    REAL_HAZARD,
    ServerProcess,
    api_client,
    flood_scenario,
    ngo_agreement,
    run_succeeded,
)
from privacy_attacks import compare_cells, lp_bounds, recovered, subtraction_attack, summary_cells

K = 10
LEVELS = ("province", "district", "tehsil")


def scenario(name: str, pmt_cutoff: float) -> dict[str, object]:
    return flood_scenario(name=name, pmt_cutoff=pmt_cutoff, budget={"total": 25000 * 150})


@pytest.fixture
def server(real_server: Callable[..., Any]) -> tuple[ServerProcess, dict[str, str]]:
    organisations = {
        "PDMA Sindh": "agency",
        "Planning": "planner",
        "Relief NGO": "ngo",
        "NDMA": "admin",
    }
    agreement = ngo_agreement(
        "Relief NGO", "district:Dadu,district:Larkana", "district,benefit,rank"
    )
    return real_server(organisations, agreement)


def truth(admin: httpx.Client, runs: dict[str, str]) -> pd.DataFrame:
    """Every household of the runs with its type in each (what the attacker wants to learn)."""
    frames = []
    for tag, run_id in runs.items():
        r = admin.get(
            f"/runs/{run_id}/households",
            params={"format": "parquet", "selected_only": "false"},
        )
        assert r.status_code == 200, r.text
        table = pq.read_table(io.BytesIO(r.content)).to_pandas()
        keys = table[["household_id", "province", "district", "tehsil"]].astype(object)
        frame = keys.where(keys.notna(), "").astype(str)
        frame[f"considered_{tag}"] = True
        frame[f"eligible_{tag}"] = table["eligible"].to_numpy(bool)
        frame[f"selected_{tag}"] = table["selected"].to_numpy(bool)
        frames.append(frame.set_index(["household_id", "province", "district", "tehsil"]))
    joined = pd.concat(frames, axis=1).fillna(False).astype(bool).reset_index()
    return joined.drop(columns="household_id")


def test_attacks_on_a_real_server(server: tuple[ServerProcess, dict[str, str]]) -> None:
    proc, tokens = server

    def client(role: str) -> httpx.Client:
        return api_client(proc, tokens[role], timeout=120)

    with client("agency") as agency, client("admin") as admin, client("ngo") as ngo:
        with client("planner") as planner:
            with open(REAL_HAZARD, "rb") as fh:
                r = agency.post(
                    "/hazards",
                    files={"file": (REAL_HAZARD.name, fh)},
                    data={"name": "warning", "kind": "flood_extent"},
                )
            assert r.status_code == 201, r.text
            hazard = r.json()["id"]
            runs = {}
            for tag, cutoff in (("a", 40), ("b", 30), ("c", 20)):
                body = {"scenario": scenario(f"run_{tag}", cutoff), "hazards": {"warning": hazard}}
                r = agency.post("/runs", json=body)
                assert r.status_code == 202, r.text
                runs[tag] = run_succeeded(agency, r.json()["id"])["id"]
            # A planner's what-if is its own; it cannot read the agency's runs.
            r = planner.post(
                "/runs", json={"scenario": scenario("what_if", 100), "hazards": {"warning": hazard}}
            )
            what_if = run_succeeded(planner, r.json()["id"])["id"]
            assert planner.get(f"/runs/{runs['a']}/summary").status_code == 404

        # Finding 3: subtraction and linear algebra recover no blanked cell of 1..k-1.
        cells = []
        for tag, run_id in runs.items():
            view = {}
            for level in LEVELS:
                r = agency.get(f"/runs/{run_id}/summary", params={"level": level})
                assert r.status_code == 200, r.text
                view[level] = r.json()
            assert subtraction_attack(view) == [], tag
            cells += summary_cells(view, tag)
        for a, b in (("a", "b"), ("b", "c")):
            for level in ("province", "district"):
                body = {"run_a": runs[a], "run_b": runs[b], "level": level}
                r = agency.post("/runs/compare", json=body)
                assert r.status_code == 200, r.text
                compared = r.json()
                renamed = [
                    c.__class__(
                        c.name.replace("compare", f"compare_{a}{b}"),
                        c.level,
                        c.unit,
                        _retag(c.test, a, b),
                        c.value,
                    )
                    for c in compare_cells(compared)
                ]
                cells += renamed
        households = truth(admin, runs)
        results = lp_bounds(households, cells, K, sample=300)
        assert any(0 < true < K for *_, true in results), "the runs must have small cells"
        assert recovered(results, K) == []

        # Finding 6: nothing is an NGO's until published to its agreement.
        for run_id in (*runs.values(), what_if):
            assert ngo.get(f"/runs/{run_id}/households").status_code == 404
        r = agency.post(f"/runs/{runs['a']}/publish", json={"agreements": [1]})
        assert r.status_code == 200, r.text
        assert [run["id"] for run in ngo.get("/runs").json()] == [runs["a"]]
        assert agency.post(f"/runs/{what_if}/publish", json={"agreements": [1]}).status_code == 404

        # Findings 1, 2 and 7: only its units, only its fields, filters only at granted levels.
        r = ngo.get(f"/runs/{runs['a']}/households", params={"format": "csv"})
        assert r.status_code == 200, r.text
        rows = pd.read_csv(io.BytesIO(r.content))
        assert set(rows.columns) == {"household_ref", "district", "benefit", "rank"}
        assert set(rows["district"]) <= {"Dadu", "Larkana"}
        expected = households[
            households["selected_a"] & households["district"].isin(["Dadu", "Larkana"])
        ]
        assert len(rows) == len(expected)
        for params, status in (
            ({"unit": "tehsil:Johi"}, 403),  # tehsil not granted
            ({"unit": "district:PK703"}, 200),
            ({"unit": "district:Jacobabad"}, 403),  # outside the agreement
            ({"unit": "Dadu"}, 422),  # a district and a tehsil
            ({"fields": "lon"}, 403),
        ):
            r = ngo.get(f"/runs/{runs['a']}/households", params=params)
            assert r.status_code == status, (params, r.text)
            if status != 200:
                detail = r.json()["detail"]
                assert "household_id" not in detail and "/" not in detail.split("(")[0], detail

        # Finding 8: each of these requests left one audit entry, refusals included.
        events = admin.get("/audit", params={"limit": 10000}).json()
        refused = [e for e in events if e["organisation"] == "Relief NGO" and e["outcome"] >= 400]
        assert len(refused) >= 8


def _retag(test, a: str, b: str):
    """A comparison cell's test over runs ``a`` and ``b`` instead of ``a`` and ``b``'s tags."""

    def retagged(t):
        return test({"selected_a": t[f"selected_{a}"], "selected_b": t[f"selected_{b}"]})

    return retagged
