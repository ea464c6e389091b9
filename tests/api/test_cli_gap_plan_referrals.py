"""``rahat gap plan --referrals``: households a claims check referred to registration draw a
site, are reported per site and in total, and rows that cannot be placed are counted; and
``rahat claims check`` reports its referrals."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
from typer.testing import CliRunner

from rahat.api.cli.main import app
from rahat.engine.gap.outreach import SITE_COLUMNS
from rahat.geo.files import sha256_file

#: Lahore: about 1,000 expected unregistered households near one site; Sukkur (P-code PK723): 10.
GAP = (
    "level,unit,pcode,unregistered_b40_est\n"
    "province,Punjab,,1000\n"
    "district,Lahore,PB-LHR,1000\n"
    "district,Sukkur,PK723,10\n"
)
SITES = "name,lon,lat\nLahore,74.35071,31.558\nThatta,67.93,24.77\nSukkur,68.86,27.70\n"
#: 400 households at a cell by Thatta (no gap demand there: 400 x weight 3 > Lahore's ~994);
#: 55 by tehsil or district P-code of Sukkur; 1 by the gap table's own P-code of Lahore (its
#: centroid lies 16 km from the Lahore site: not reached); 12 that cannot be placed.
REFERRALS = (
    "tehsil,cell_lon,cell_lat,claims,households\n"
    "PK72305,67.925,24.775,500,400\n"
    "PK72303,,,60,50\n"
    "pk723,,,5,5\n"
    "PB-LHR,,,1,1\n"
    "Sukkur City,,,7,7\n"
    ",,,3,3\n"
    "XX999,,,2,2\n"
)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {"gap": tmp_path / "gap_by_unit.csv", "sites": tmp_path / "sites.csv"}
    paths["referrals"] = tmp_path / "registration_referrals.csv"
    paths["gap"].write_text(GAP)
    paths["sites"].write_text(SITES)
    paths["referrals"].write_text(REFERRALS)
    return paths


def _plan(files: dict[str, Path], out: Path, k: int, *more: str) -> object:
    arguments = [
        "gap", "plan", "--gap", str(files["gap"]), "--sites", str(k), "--out", str(out),
        "--sites-csv", str(files["sites"]), *more,
    ]  # fmt: skip
    return CliRunner().invoke(app, arguments)


def _first_site(done: object) -> str:
    assert done.exit_code == 0, done.output  # type: ignore[attr-defined]
    return str(json.loads(done.output)["sites"][0]["name"])  # type: ignore[attr-defined]


def test_a_referral_cluster_draws_a_site_it_would_not_get_without(files, tmp_path) -> None:
    plain = _plan(files, tmp_path / "a", 1, "--json")
    assert _first_site(plain) == "Lahore"
    referred = _plan(files, tmp_path / "b", 1, "--referrals", str(files["referrals"]), "--json")
    assert _first_site(referred) == "Thatta"
    light = _plan(
        files, tmp_path / "c", 1, "--referrals", str(files["referrals"]),
        "--footprint-weight", "1", "--json",
    )  # fmt: skip
    assert _first_site(light) == "Lahore"  # 400 at weight 1 < Lahore's ~994


def test_sites_and_manifest_report_referred_households_and_the_unplaced(files, tmp_path) -> None:
    out = tmp_path / "plan"
    done = _plan(files, out, 3, "--referrals", str(files["referrals"]), "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    sites = pd.read_csv(out / "outreach_sites.csv", keep_default_na=False)
    assert list(sites.columns) == list(SITE_COLUMNS)
    assert sites["name"].tolist() == ["Thatta", "Lahore", "Sukkur"]
    assert sites["referred_yield"].tolist() == [400.0, 0.0, 55.0]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["referrals"]["sha256"] == sha256_file(files["referrals"])
    referrals = manifest["figures"]["referrals"]
    assert referrals == report["referrals"]
    assert referrals == {
        "rows": 7,
        "households": 468.0,
        "placed_at_cell": 400.0,
        "placed_at_district": 56.0,
        "unplaced_rows": 3,
        "unplaced_households": 12.0,
        "unplaced": {"(no tehsil stated)": 3.0, "Sukkur City": 7.0, "XX999": 2.0},
        "reached": 455.0,
    }
    assert report["demand"]["referred"] == 456.0
    assert report["plan"]["reach_referred"] == 455.0
    text = _plan(files, tmp_path / "plain", 3, "--referrals", str(files["referrals"]))
    assert text.exit_code == 0, text.output
    assert "referred by claims: 455 of 456 placed households reached" in text.output
    assert "not placed: 3 referral row(s)" in text.output and "12 households" in text.output


def test_a_referrals_file_without_its_columns_is_refused(files, tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("tehsil,households\nPK723,4\n")
    done = _plan(files, tmp_path / "out", 1, "--referrals", str(bad))
    assert done.exit_code == 2 and "cell_lon" in done.output
    assert not (tmp_path / "out").exists()
    negative = tmp_path / "negative.csv"
    negative.write_text("tehsil,cell_lon,cell_lat,claims,households\nPK723,,,1,-1\n")
    done = _plan(files, tmp_path / "out", 1, "--referrals", str(negative))
    assert done.exit_code == 2 and "households count" in done.output


def _claims_helpers() -> ModuleType:
    """The registry, run and claims files of ``test_cli_claims.py`` (not collected again)."""
    path = Path(__file__).with_name("test_cli_claims.py")
    spec = importlib.util.spec_from_file_location("_claims_cli_helpers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_claims_check_writes_and_reports_its_referrals(tmp_path) -> None:
    base = _claims_helpers()
    env = {base.SECRET_ENV: base.SECRET_HEX, "RAHAT_CACHE_DIR": str(tmp_path / "cache")}
    arguments = [
        "claims", "check", str(base.claims_file(tmp_path)),
        "--registry", str(base.registry_file(tmp_path)),
        "--run", str(base.run_folder(tmp_path)),
    ]  # fmt: skip
    done = CliRunner().invoke(app, [*arguments, "--out", str(tmp_path / "a"), "--json"], env=env)
    assert done.exit_code == 0, done.output
    payload = json.loads(done.stdout)
    assert payload["registration_referrals"] == {
        "file": "registration_referrals.csv",
        "claims": 1,
        "households": 1,
        "rows": 1,
        "claims_with_location": 0,
    }
    assert payload["files"]["referrals"].endswith("registration_referrals.csv")
    table = pd.read_csv(tmp_path / "a" / "registration_referrals.csv", keep_default_na=False)
    assert table.to_dict(orient="records") == [
        {"tehsil": "sukkur", "cell_lon": "", "cell_lat": "", "claims": 1, "households": 1}
    ]
    plain = CliRunner().invoke(app, [*arguments, "--out", str(tmp_path / "b")], env=env)
    assert plain.exit_code == 0, plain.output
    assert "referred to registration: 1 households (1 claims" in plain.output
