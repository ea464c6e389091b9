"""What the planners' page asks of the API besides figures: /me, /scenarios, scenario YAML,
run manifests, unit codes, and the page and its files served without a key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import Service

from rahat.api.service.page_api import public_manifest, scenario_controls
from rahat.engine.targeting.scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]
FLOOD = REPO / "scenarios" / "flood_2022_footprint.yaml"


def test_page_and_its_files_load_without_a_key(service: Service) -> None:
    page = service.get(None, "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    for path in (
        "/static/page/app.js",
        "/static/maplibre/maplibre-gl.js",
        "/static/swagger-ui/swagger-ui.css",
    ):
        assert service.get(None, path).status_code == 200, path
    # Everything else still wants a key, and a body is still refused before it is read.
    assert service.get(None, "/runs").status_code == 401
    assert service.get(None, "/me").status_code == 401
    r = service.client.post("/runs", content=b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 401


def test_me_tells_role_views_and_agreement(service: Service) -> None:
    r = service.get("planner", "/me")
    assert r.status_code == 200
    assert r.json()["role"] == "planner" and r.json()["views"] == ["plan", "compare", "runs"]
    assert r.json()["agreement"] is None
    ngo = service.get("ngo", "/me").json()
    assert ngo["views"] == ["runs"]
    assert ngo["agreement"]["units"] == ["district:PK703"]  # stored by code
    assert service.get("ngo_expired", "/me").json()["agreement"] is None
    assert service.get("agency", "/me").json()["views"] == ["plan", "compare", "runs", "upload"]
    assert service.get(None, "/me").status_code == 401


def test_scenario_controls_name_the_whatif_keys() -> None:
    scenario = load_scenario(FLOOD)
    controls = {c.key: c for c in scenario_controls(scenario)}
    assert controls["pmt_cutoff"].value == 32 and controls["pmt_cutoff"].maximum == 100
    assert controls["depth"].value == 0.3  # the hazard rule's layer
    assert controls["amount"].value == 25000
    assert controls["budget"].value is None  # same_as: no total of its own
    assert controls["quotas.level"].options == ("province", "district", "tehsil")
    assert controls["priority.weights.severity"].value == 0.35
    mode = controls["quotas.mode"]
    assert mode.value == "proportional" and mode.options == ("proportional",)  # no shares given
    assert mode.as_json()["option_label"] == "mode"


def test_quota_mode_offers_fixed_shares_only_when_the_scenario_has_them() -> None:
    data = yaml.safe_load(FLOOD.read_text())
    data["quotas"] = {"level": "district", "mode": "fixed", "shares": {"PK703": 0.6, "PK713": 0.4}}
    controls = {c.key: c for c in scenario_controls(load_scenario(data))}
    assert controls["quotas.mode"].value == "fixed"
    assert controls["quotas.mode"].options == ("proportional", "fixed")
    data.pop("quotas")
    assert "quotas.mode" not in {c.key for c in scenario_controls(load_scenario(data))}


def test_quota_mode_override_is_a_whatif(service: Service, scenarios: Path) -> None:
    body = {"scenario_name": "flood_2022_footprint.yaml", "overrides": {"quotas.mode": "fixed"}}
    r = service.post("planner", "/whatif/scenario.yaml", json=body)
    assert r.status_code == 422 and "shares" in r.text  # fixed needs shares: said in words
    body["overrides"] = {"quotas.mode": "proportional", "quotas.level": "tehsil"}
    r = service.post("planner", "/whatif/scenario.yaml", json=body)
    assert r.status_code == 200, r.text
    assert yaml.safe_load(r.text)["quotas"] == {"level": "tehsil", "mode": "proportional"}


@pytest.fixture
def scenarios(service: Service) -> Path:
    folder = service.app.state.settings.scenarios_dir
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("flood_2022_footprint.yaml", "bisp_2022_as_done.yaml"):
        shutil.copy(REPO / "scenarios" / name, folder / name)
    (folder / "broken.yaml").write_text("name: [unclosed\n")
    return folder


def test_scenarios_list_with_controls(service: Service, scenarios: Path) -> None:
    r = service.get("planner", "/scenarios")
    assert r.status_code == 200, r.text
    listed = {s["name"]: s for s in r.json()}
    assert set(listed) == {"flood_2022_footprint.yaml", "bisp_2022_as_done.yaml", "broken.yaml"}
    assert listed["broken.yaml"]["problem"] and listed["broken.yaml"]["controls"] == []
    assert str(scenarios) not in r.text  # never a server path
    keys = [c["key"] for c in listed["flood_2022_footprint.yaml"]["controls"]]
    assert keys[:3] == ["pmt_cutoff", "depth", "amount"]
    assert service.get("ngo", "/scenarios").status_code == 403


def test_whatif_scenario_yaml_is_the_variant(service: Service, scenarios: Path) -> None:
    body = {
        "scenario_name": "flood_2022_footprint.yaml",
        "overrides": {"pmt_cutoff": 35, "amount": "30000\nname: injected"},
    }
    r = service.post("planner", "/whatif/scenario.yaml", json=body)
    assert r.status_code == 422  # a number field refuses text
    body["overrides"] = {"pmt_cutoff": 35, "depth": 0.5}
    r = service.post("planner", "/whatif/scenario.yaml", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/yaml")
    saved = yaml.safe_load(r.text)
    assert saved["name"] == "flood_2022_footprint_whatif"
    assert saved["eligibility"]["pmt_cutoff"] == 35
    assert saved["eligibility"]["hazard"][0]["min_intensity"] == 0.5
    assert saved["hazards"][0]["path"] == "demo:flood_depth_sindh_2022"  # as the file writes it
    assert load_scenario(saved).benefit.amount == 25000  # loads back as a scenario
    assert str(scenarios) not in r.text
    r = service.post("ngo", "/whatif/scenario.yaml", json=body)
    assert r.status_code == 403


def test_public_manifest_drops_paths_and_figures() -> None:
    manifest = {
        "scenario": "s",
        "scenario_sha256": "a" * 64,
        "seed": 1,
        "rahat_version": "0.1.0",
        "registry": {"households": 9, "sha256": "b" * 64, "source": "/srv/secret/registry.parquet"},
        "hazards": {"depth": {"kind": "flood_depth", "path": "/srv/secret/d.tif", "sha256": "c"}},
        "outputs": {"summary": {"file": "summary.csv", "sha256": "d"}},
        "totals": {"amount": 7},
    }
    shown = public_manifest(manifest)
    assert "/srv/secret" not in json.dumps(shown) and "totals" not in shown
    assert shown["hazards"]["depth"] == {"kind": "flood_depth", "sha256": "c"}
    assert shown["registry"]["sha256"] == "b" * 64


def test_units_carry_their_gazetteer_code(service: Service) -> None:
    summary = f"/runs/{service.planner_run_id}/summary"
    r = service.get("planner", summary, params={"level": "tehsil"})
    assert r.status_code == 200, r.text
    codes = {u["tehsil"]: u["code"] for u in r.json()["units"]}
    assert codes["Johi"] == "PK70302" and codes["Dokri"] == "PK71302"
    r = service.get("planner", summary)
    assert {u["code"] for u in r.json()["units"]} == {"PK703", "PK713", "PK708"}


def test_every_label_of_the_page_is_in_english_and_urdu() -> None:
    """The same label keys in both languages, and every data-i18n key of the page has one."""
    import re

    static = REPO / "api" / "service" / "static" / "page"
    source = (static / "i18n.js").read_text(encoding="utf-8")
    blocks = dict(re.findall(r"^  (en|ur): \{\n(.*?)^  \},", source, re.MULTILINE | re.DOTALL))
    keys = {
        lang: set(re.findall(r"^    (\w+):", body, re.MULTILINE)) for lang, body in blocks.items()
    }
    assert keys["en"] and keys["en"] == keys["ur"]
    urdu = dict(re.findall(r'^    (\w+): "(.*)",$', blocks["ur"], re.MULTILINE))
    assert all(re.search("[\u0600-\u06ff]", text) for text in urdu.values())  # written in Urdu
    used = set(re.findall(r'data-i18n="(\w+)"', (static / "index.html").read_text()))
    for script in static.glob("*.js"):
        used |= set(re.findall(r'\bt\("(\w+)"', script.read_text(encoding="utf-8")))
    assert used <= keys["en"], sorted(used - keys["en"])
