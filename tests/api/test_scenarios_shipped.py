"""Every shipped scenario runs through the CLI and through the API, reading the same files.

Issue items 11 (relative hazard paths of a named scenario were resolved against
``scenarios/`` by the API only) and 10 (an upload's ``crs``/``layer`` were not used by runs).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import Service, make_settings, start_service, wait_for_run
from typer.testing import CliRunner

from rahat.api.cli import app as cli_app
from rahat.geo.paths import repo_root, scenarios_dir

SHIPPED = sorted(p.name for p in scenarios_dir().glob("*.yaml"))


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAHAT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory, registry_file: Path) -> Iterator[Service]:
    """A service whose scenarios folder is the repository's ``scenarios/``."""
    root = tmp_path_factory.mktemp("shipped")
    settings = make_settings(root, registry_path=registry_file, scenarios_dir=scenarios_dir())
    yield from start_service(settings)


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory, registry_file: Path) -> Iterator[Service]:
    """A service whose scenarios folder is a copy of ``scenarios/`` outside the repository."""
    root = tmp_path_factory.mktemp("elsewhere")
    settings = make_settings(root, registry_path=registry_file)
    shutil.copytree(scenarios_dir(), settings.scenarios_dir)
    yield from start_service(settings)


def wait_for(service: Service, run_id: str, timeout: float = 300) -> dict:
    return wait_for_run(service, run_id, timeout)


def api_manifest(service: Service, body: dict) -> dict:
    r = service.post("agency", "/runs", json=body)
    assert r.status_code == 202, r.text
    run = wait_for(service, r.json()["id"])
    assert run["status"] == "succeeded", run
    folder = service.app.state.settings.runs_dir / run["id"]
    return json.loads((folder / "manifest.json").read_text())


def cli_manifest(scenario: Path, registry: Path, out: Path) -> dict:
    result = CliRunner().invoke(
        cli_app, ["run", str(scenario), "--registry", str(registry), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return json.loads((out / "manifest.json").read_text())


def same_run(a: dict, b: dict) -> None:
    assert {k: v["sha256"] for k, v in a["hazards"].items()} == {
        k: v["sha256"] for k, v in b["hazards"].items()
    }
    assert a["registry"]["sha256"] == b["registry"]["sha256"]
    assert a["totals"] == b["totals"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenario_through_cli_and_api(
    name: str,
    shipped: Service,
    registry_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths never depend on the working folder
    cli = cli_manifest(Path(scenarios_dir() / name), registry_file, tmp_path / "cli")
    api = api_manifest(shipped, {"scenario_name": name})
    same_run(cli, api)


def test_real_data_scenario_from_a_scenarios_folder_elsewhere(
    elsewhere: Service, registry_file: Path, tmp_path: Path
) -> None:
    """The folder of ``RAHAT_SCENARIOS_DIR`` has no ``data/``: the repository root serves it."""
    name = "anticipatory_mom_2022.yaml"
    folder = elsewhere.app.state.settings.scenarios_dir
    assert not (folder / "data").exists()
    api = api_manifest(elsewhere, {"scenario_name": name})
    cli = cli_manifest(folder / name, registry_file, tmp_path / "cli")
    same_run(cli, api)


def test_named_scenario_with_a_missing_file_is_refused_at_once(elsewhere: Service) -> None:
    folder = elsewhere.app.state.settings.scenarios_dir
    data = yaml.safe_load((folder / "anticipatory_mom_2022.yaml").read_text())
    data["hazards"][1]["path"] = "data/hazard/nowhere.geojson"
    (folder / "missing_file.yaml").write_text(yaml.safe_dump(data))
    r = elsewhere.post("agency", "/runs", json={"scenario_name": "missing_file.yaml"})
    assert r.status_code == 422, r.text
    assert "data/hazard/nowhere.geojson" in r.text and "hazards[1].path" in r.text
    assert str(folder) not in r.text and str(repo_root()) not in r.text


def test_inline_scenario_still_cannot_read_server_files(shipped: Service) -> None:
    data = yaml.safe_load((scenarios_dir() / "anticipatory_mom_2022.yaml").read_text())
    r = shipped.post("agency", "/runs", json={"scenario": data})
    assert r.status_code == 422, r.text
    assert "cannot read files on the server" in r.text
    # Nor through a zone layer: an inline scenario naming /etc/passwd as a zone is refused.
    inline = {
        "name": "zones_probe",
        "hazards": [
            {"name": "depth", "path": "demo:flood_depth_sindh_2022", "kind": "flood_depth"}
        ],
        "zones": [{"name": "livelihood", "path": "/etc/passwd", "field": "x"}],
        "eligibility": {"pmt_cutoff": 40, "hazard": [{"layer": "depth", "min_intensity": 0.3}]},
        "benefit": {"kind": "fixed", "amount": 25000},
    }
    r = shipped.post("agency", "/runs", json={"scenario": inline})
    assert r.status_code == 422, r.text
    assert "zones" in r.json()["detail"] and "cannot read files" in r.json()["detail"]


#: A TopoJSON alert polygon over Sindh (TopoJSON states no CRS), shared with tests/engine.
TOPOJSON = Path(__file__).resolve().parents[1] / "data" / "alerts.topojson"


def test_topojson_upload_with_crs_and_layer_runs(shipped: Service, tmp_path: Path) -> None:
    path = tmp_path / "alerts.topojson"
    shutil.copyfile(TOPOJSON, path)
    form = {"name": "alerts", "crs": "EPSG:4326", "layer": "alerts", "intensity_field": "Severity"}
    with open(path, "rb") as fh:
        r = shipped.post("agency", "/hazards", files={"file": (path.name, fh)}, data=form)
    assert r.status_code == 201, r.text
    hazard = r.json()
    assert hazard["inspect"]["read_options"] == {
        "crs": "EPSG:4326",
        "layer": "alerts",
        "intensity_field": "Severity",
    }
    scenario = {
        "name": "topo_api",
        "hazards": [{"name": "alerts", "path": "upload", "kind": "generic"}],
        "eligibility": {"pmt_cutoff": 60, "hazard": [{"layer": "alerts", "min_intensity": 0.5}]},
        "benefit": {"kind": "fixed", "amount": 10000},
    }
    manifest = api_manifest(shipped, {"scenario": scenario, "hazards": {"alerts": hazard["id"]}})
    assert manifest["totals"]["eligible"] > 0
    # the scenario's own statement wins over the upload's: 'outline' has Severity 0.1 only
    scenario["hazards"][0]["layer"] = "outline"
    manifest = api_manifest(shipped, {"scenario": scenario, "hazards": [hazard["id"]]})
    assert manifest["totals"]["eligible"] == 0
