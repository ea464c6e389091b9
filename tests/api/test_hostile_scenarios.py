"""Hostile scenarios sent to the API: 422 problems before any run exists, limits in OpenAPI."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Service, make_settings, start_service


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, registry_file: Path) -> Iterator[Service]:
    """A service with a registry, so that a valid scenario would be accepted (202)."""
    root = tmp_path_factory.mktemp("hostile")
    settings = make_settings(root, registry_path=registry_file)
    settings.scenarios_dir.mkdir()
    yield from start_service(settings)


DEMO: dict[str, Any] = {
    "name": "hostile",
    "hazards": [{"name": "depth", "path": "demo:flood_depth_sindh_2022", "kind": "flood_depth"}],
    "eligibility": {"pmt_cutoff": 40, "hazard": [{"layer": "depth", "min_intensity": 0.3}]},
    "benefit": {"kind": "fixed", "amount": 25000},
}


def scenario(**blocks: Any) -> dict[str, Any]:
    return copy.deepcopy(DEMO) | blocks


def run_ids(live: Service) -> list[str]:
    r = live.get("planner", "/runs")
    assert r.status_code == 200, r.text
    return [run["id"] for run in r.json()]


def refused(live: Service, body: dict[str, Any] | str, *statuses: int) -> dict[str, Any]:
    """POST /runs as the planner; assert a problem document and that no run was created."""
    before = run_ids(live)
    if isinstance(body, str):
        headers = live.headers("planner") | {"Content-Type": "application/json"}
        r = live.client.post("/runs", content=body, headers=headers)
    else:
        r = live.post("planner", "/runs", json=body)
    assert r.status_code in (statuses or (422,)), r.text[:2000]
    assert r.headers["content-type"].startswith("application/problem+json")
    assert len(r.text) < 5000, "the problem must not echo the hostile value"
    assert run_ids(live) == before
    return r.json()


@pytest.mark.parametrize(
    ("blocks", "field"),
    [
        ({"budget": {"total": 10**30}}, "budget.total"),
        ({"budget": {"max_households": 10**30}}, "budget.max_households"),
        (
            {
                "benefit": {
                    "kind": "household_size",
                    "brackets": [{"max_size": 4, "amount": 1000}, {"amount": 2**63}],
                }
            },
            "benefit.brackets[1].amount",
        ),
        ({"benefit": {"kind": "fixed", "amount": 10**17}}, "benefit.amount"),
    ],
)
def test_huge_numbers_are_422_before_any_run(live: Service, blocks: dict, field: str) -> None:
    problem = refused(live, {"scenario": scenario(**blocks)})
    assert field in problem["detail"]


def test_long_name_under_the_body_cap_is_refused_fast(live: Service) -> None:
    start = time.perf_counter()
    problem = refused(live, {"scenario": scenario(name="x" * 900_000)})  # body cap: 1 MiB
    assert time.perf_counter() - start < 1.0
    assert "name: String should have at most 200 characters" in problem["detail"]


def test_long_name_is_422(live: Service) -> None:
    problem = refused(live, {"scenario": scenario(name="n" * 201)})
    assert "at most 200 characters" in problem["detail"]


def test_nan_is_422(live: Service) -> None:
    body = {"scenario": scenario()}
    body["scenario"]["eligibility"]["hazard"][0]["min_intensity"] = float("nan")
    problem = refused(live, json.dumps(body))  # Python's json writes NaN; the server reads it
    assert "finite number" in problem["detail"]


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("binary.yaml", b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)), "not a text file"),
        ("latin1.yaml", b"name: caf\xe9\n", "not UTF-8 text"),
        ("deep.yaml", b"name: " + b"[" * 10_000 + b"]" * 10_000, "nested more than 20"),
        ("laughs.yaml", b"a: &a [1, 2]\nname: *a\n", "aliases"),
        ("broken.yaml", b"name: [unclosed\n", "not valid YAML"),
    ],
)
def test_hostile_scenario_files_are_422(
    live: Service, name: str, content: bytes, fragment: str
) -> None:
    folder: Path = live.app.state.settings.scenarios_dir
    (folder / name).write_bytes(content)
    problem = refused(live, {"scenario_name": name})
    assert fragment in problem["detail"] and name in problem["detail"]
    assert str(folder) not in problem["detail"]


def test_scenario_file_over_the_cap_is_422(live: Service) -> None:
    folder: Path = live.app.state.settings.scenarios_dir
    with open(folder / "huge.yaml", "wb") as fh:
        fh.truncate(4 * 2**30)  # sparse: reading it all would take long
    start = time.perf_counter()
    problem = refused(live, {"scenario_name": "huge.yaml"})
    assert "larger than 1,000,000 bytes" in problem["detail"]
    assert time.perf_counter() - start < 2.0


def test_hazard_ids_are_bounded(live: Service) -> None:
    body = {"scenario": scenario(), "hazards": {"depth": "h" * 10_000}}
    refused(live, body)
    refused(live, {"scenario": scenario(), "hazards": [f"h{i}" for i in range(101)]})


def test_publish_agreement_ids_are_bounded(live: Service) -> None:
    r = live.post("agency", f"/runs/{live.run_id}/publish", json={"agreements": [2**70]})
    assert r.status_code == 422, r.text


def test_openapi_shows_the_limits(live: Service) -> None:
    schemas = live.client.get("/openapi.json").json()["components"]["schemas"]
    run_create = schemas["RunCreate"]["properties"]
    assert {"$ref": "#/components/schemas/Scenario"} in run_create["scenario"]["anyOf"]
    assert schemas["Scenario"]["properties"]["name"]["maxLength"] == 200
    assert schemas["Scenario"]["properties"]["description"]["maxLength"] == 2000
    total = schemas["Budget"]["properties"]["total"]["anyOf"][0]
    assert total["maximum"] == 10**15
    amount = schemas["Benefit"]["properties"]["amount"]["anyOf"][0]
    assert amount["maximum"] == 10**9
    assert schemas["HazardLayerSpec"]["properties"]["path"]["maxLength"] == 1024
    assert schemas["NotifiedUnits"]["properties"]["units"]["maxItems"] == 10_000
    hazards = run_create["hazards"]["anyOf"]
    assert hazards[0]["maxProperties"] == 100 and hazards[1]["maxItems"] == 100
