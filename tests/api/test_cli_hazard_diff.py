"""``rahat hazard diff`` (issue 10, item 23): areas and households between two versions."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_settings, start_service
from typer.testing import CliRunner

from rahat.api.cli.main import app as cli

ALERTS = Path(__file__).resolve().parents[2] / "data/hazard/flood2022_mom_watershed_alerts"


def test_diff_by_area_and_households(tmp_path: Path, registry_file: Path) -> None:
    out = tmp_path / "changes.csv"
    args = ["hazard", "diff", str(ALERTS / "20220826_watch.geojson")]
    args += [str(ALERTS / "20220826_warning.geojson"), "--kind", "flood_extent"]
    result = CliRunner().invoke(
        cli, [*args, "--registry", str(registry_file), "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["area"] and {"class"} <= set(body["area"][0])
    totals = body["households"]["totals"]
    changes = pd.read_csv(out)
    counts = changes["status"].value_counts().to_dict()
    for status in ("entered", "left", "stayed"):
        assert totals[status] == counts.get(status, 0)
        assert totals[status] == sum(r[status] for r in body["households"]["by_district"])
    assert totals["old"] == totals["left"] + totals["stayed"]
    assert totals["new"] == totals["entered"] + totals["stayed"]
    assert totals["entered"] + totals["left"] > 0
    plain = CliRunner().invoke(cli, [*args, "--registry", str(registry_file)])
    assert plain.exit_code == 0 and "entering and leaving" in plain.stdout


def test_diff_refuses_out_without_registry(tmp_path: Path) -> None:
    args = ["hazard", "diff", str(ALERTS / "20220826_watch.geojson")]
    args += [str(ALERTS / "20220826_warning.geojson"), "--out", str(tmp_path / "x.csv")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "--registry" in result.output
    assert not (tmp_path / "x.csv").exists()


def test_api_diff_areas_for_readers_households_for_admins(live_diff: tuple) -> None:
    service, old, new = live_diff
    for who, with_households in (("agency", False), ("planner", False), ("admin", True)):
        r = service.post(who, "/hazards/diff", json={"old": old, "new": new})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["area"] and (body["households"] is not None) == with_households
    totals = body["households"]["totals"]
    assert totals["old"] == totals["left"] + totals["stayed"]
    assert service.post("ngo", "/hazards/diff", json={"old": old, "new": new}).status_code == 403
    r = service.post("agency", "/hazards/diff", json={"old": old, "new": "nope"})
    assert r.status_code == 404


@pytest.fixture
def live_diff(tmp_path: Path, registry_file: Path):
    settings = make_settings(tmp_path, registry_path=registry_file)
    for service in start_service(settings):
        ids = []
        for name in ("20220826_watch.geojson", "20220826_warning.geojson"):
            with open(ALERTS / name, "rb") as fh:
                r = service.post(
                    "agency", "/hazards", files={"file": (name, fh)}, data={"kind": "flood_extent"}
                )
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        yield service, ids[0], ids[1]
