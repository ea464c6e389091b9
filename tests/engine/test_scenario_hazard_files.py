"""Hazard files named by a scenario: ``layer``/``crs`` (item 10) and path resolution (item 11)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from rahat.engine.targeting import load_scenario
from rahat.engine.targeting.scenario import resolve_scenario_path
from rahat.geo.errors import CRSError, ScenarioError, SchemaError
from rahat.geo.paths import repo_root

#: Two watersheds over Sindh as TopoJSON objects (TopoJSON states no CRS; the arcs are lon/lat):
#: ``alerts`` (Severity 0.8) and a wider ``outline`` (0.1). Shared with tests/api.
TOPOJSON = Path(__file__).resolve().parents[1] / "data" / "alerts.topojson"


def _scenario(folder: Path, **layer: object) -> Path:
    shutil.copyfile(TOPOJSON, folder / "alerts.topojson")
    data = {
        "name": "topo",
        "hazards": [
            {
                "name": "alerts",
                "path": "alerts.topojson",
                "kind": "generic",
                "intensity_field": "Severity",
                **layer,
            }
        ],
        "eligibility": {"pmt_cutoff": 60, "hazard": [{"layer": "alerts", "min_class": "affected"}]},
        "benefit": {"kind": "fixed", "amount": 10000},
    }
    path = folder / "topo.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def registry_2k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rahat.geo.registry.synth import write_demo

    _, registry = write_demo(2000, 7, tmp_path_factory.mktemp("registry"))
    return registry


def test_topojson_hazard_with_layer_and_crs_runs(tmp_path, registry_2k) -> None:
    from rahat.engine.pipeline import run_scenario

    scenario = load_scenario(_scenario(tmp_path, layer="alerts", crs="EPSG:4326"))
    spec = scenario.hazard("alerts")
    assert (spec.layer, spec.crs) == ("alerts", "EPSG:4326")
    result = run_scenario(scenario, registry_path=registry_2k, out_dir=tmp_path / "out")
    assert result.totals["eligible"] > 0
    frame = result.caseload.frame
    assert frame.loc[frame["eligible"], "alerts_intensity"].eq(0.8).all()


@pytest.mark.parametrize(
    ("layer", "error", "needle"),
    [
        ({"layer": "alerts"}, CRSError, "no CRS"),
        ({"crs": "EPSG:4326"}, SchemaError, "several layers"),
        ({"layer": "nope", "crs": "EPSG:4326"}, SchemaError, "has no layer 'nope'"),
    ],
)
def test_topojson_needs_its_layer_and_crs(tmp_path, registry_2k, layer, error, needle) -> None:
    from rahat.engine.pipeline import load_hazards

    scenario = load_scenario(_scenario(tmp_path, **layer))
    with pytest.raises(error, match=needle):
        load_hazards(scenario)


def test_layer_and_crs_fields_are_checked(tmp_path) -> None:
    with pytest.raises(ScenarioError, match=r"hazards\[0\]\.crs: .*not a CRS"):
        load_scenario(_scenario(tmp_path, crs="EPSG:99999999"))
    with pytest.raises(ScenarioError, match=r"hazards\[0\]\.projection: unknown field.*crs"):
        load_scenario(_scenario(tmp_path, projection="EPSG:4326"))
    with pytest.raises(ScenarioError, match=r"hazards\[0\]\.layer"):
        load_scenario(_scenario(tmp_path, layer=""))


def test_resolve_scenario_path_rule(tmp_path) -> None:
    data = "data/hazard/flood2022_mom_watershed_alerts/20220826_watch.geojson"
    # not next to the scenario: the repository root
    assert resolve_scenario_path(data, tmp_path) == repo_root() / data
    # next to the scenario: that one wins
    local = tmp_path / data
    local.parent.mkdir(parents=True)
    local.write_text("{}")
    assert resolve_scenario_path(data, tmp_path) == local
    # in neither: under the scenario's folder, so the error names where it was expected
    assert resolve_scenario_path("nowhere.tif", tmp_path) == tmp_path / "nowhere.tif"
    assert resolve_scenario_path("/abs/x.tif", tmp_path) == Path("/abs/x.tif")
    # a scenario read from a file resolves with the same rule
    path = tmp_path / "s.yaml"
    shipped = yaml.safe_load((repo_root() / "scenarios/anticipatory_mom_2022.yaml").read_text())
    path.write_text(yaml.safe_dump(shipped))
    scenario = load_scenario(path)
    assert scenario.resolve_path(data) == local
    assert scenario.resolve_path(shipped["hazards"][0]["path"]) == (
        repo_root() / shipped["hazards"][0]["path"]
    )
