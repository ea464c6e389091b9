"""``rahat claims check``: exit codes, the files written, --json, and no raw number anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from rahat.api.cli.main import app as cli
from rahat.engine.targeting.caseload import DECISIONS
from rahat.geo.registry.identity import SECRET_ENV, cnic_tokens
from rahat.geo.registry.io import write_registry

SECRET_HEX = "ab" * 32
CNICS = ["3520212345671", "3520212345672", "3520212345673"]
STRANGER = "5440012345679"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {SECRET_ENV: SECRET_HEX, "RAHAT_CACHE_DIR": str(tmp_path / "cache")}


def registry_file(tmp_path: Path, *, tokens: bool = True) -> Path:
    """Three households of Sukkur with CNIC tokens under the test secret."""
    n = 3
    frame = pd.DataFrame(
        {
            "household_id": np.array([100, 200, 300], dtype=np.int64),
            "lon": [68.85, 68.86, 68.87],
            "lat": [27.70, 27.71, 27.72],
            "province": pd.Categorical(["Sindh"] * n),
            "district": pd.Categorical(["Sukkur"] * n),
            "tehsil": pd.Categorical(["Sukkur"] * n),
            "pmt_score": np.array([20.0, 25.0, 50.0], dtype=np.float32),
            "household_size": np.array([5, 6, 4], dtype=np.int16),
            "children_under5": np.zeros(n, dtype=np.int16),
            "elderly": np.zeros(n, dtype=np.int16),
            "disabled": np.zeros(n, dtype=np.int16),
            "female_headed": np.zeros(n, dtype=bool),
            "dwelling": pd.Categorical(["kacha"] * n),
            "livelihood": pd.Categorical(["daily_wage"] * n),
            "last_updated": np.array(["2021-01-01"] * n, dtype="datetime64[s]"),
        }
    )
    if tokens:
        frame["cnic_token"] = cnic_tokens(CNICS, bytes.fromhex(SECRET_HEX))[0]
    return write_registry(frame, tmp_path / "registry.parquet")


def run_folder(tmp_path: Path) -> Path:
    """Household 100 selected at rank 1, 200 cut by the budget, 300 not eligible."""
    folder = tmp_path / "run"
    folder.mkdir()
    table = pa.table(
        {
            "household_id": np.array([100, 200, 300], dtype=np.int64),
            "rank": pa.array([1, 2, None], type=pa.int64()),
            "exposed": [True, True, True],
            "amount": np.array([30_000, 0, 0], dtype=np.int64),
            "decision": pd.Categorical(
                ["selected", "cut_budget", "not_eligible"], categories=list(DECISIONS)
            ),
            "reasons": [
                "selected: within the budget",
                "budget: cut at rank 2 (score 0.4 < 0.5 at the cut)",
                "pmt<=32: fail (50)",
            ],
            "tehsil": ["Sukkur"] * 3,
            "lon": [68.85, 68.86, 68.87],
            "lat": [27.70, 27.71, 27.72],
        }
    )
    pq.write_table(table, folder / "caseload.parquet")
    (folder / "manifest.json").write_text(json.dumps({"totals": {"budget_total": 30_000}}))
    return folder


def claims_file(tmp_path: Path) -> Path:
    path = tmp_path / "claims.csv"
    rows = [
        f"{CNICS[0]},0300-1234567,Sukkur,Sukkur,,,2022-09-01",
        f"{CNICS[1]},03001234568,Sukkur,Sukkur,,,2022-09-01",
        f"{CNICS[2]},,Karachi,,,,2022-09-02",
        f"{STRANGER},+923001234569,,sukkur,,,",
        f"{CNICS[0]},0300-1234567,Sukkur,Sukkur,,,2022-09-03",
        "12345,,,,,,",
    ]
    header = "CNIC,Phone,stated_district,stated_tehsil,lon,lat,date"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def invoke(env: dict[str, str], *args: str | Path) -> object:
    return CliRunner().invoke(cli, ["claims", "check", *map(str, args)], env=env)


def test_check_writes_decisions_and_prints_json(tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "out"
    result = invoke(
        env, claims_file(tmp_path), "--registry", registry_file(tmp_path),
        "--run", run_folder(tmp_path), "--out", out, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["decisions"] == {
        "invalid_cnic": 1,
        "duplicate_claim": 1,
        "in_caseload": 1,
        "eligible_not_selected": 1,
        "registered_not_eligible": 1,
        "not_registered_in_footprint": 1,
    }
    assert payload["reasons"]["stated_location_mismatch"] == 1
    assert payload["run"] == {"budget_total": 30_000}
    decisions = pd.read_csv(out / "claims_decisions.csv", keep_default_na=False)
    assert decisions["decision"].tolist() == [
        "in_caseload", "eligible_not_selected", "registered_not_eligible",
        "not_registered_in_footprint", "duplicate_claim", "invalid_cnic",
    ]  # fmt: skip
    assert decisions["amount"].tolist()[:2] == [30_000, 0]
    assert decisions["cut_line"][1] == "budget: cut at rank 2 (score 0.4 < 0.5 at the cut)"
    assert sorted(p.name for p in out.iterdir()) == [
        "claims_decisions.csv", "claims_report.json", "claims_summary.csv",
        "registration_referrals.csv", "unregistered_groups.csv",
    ]  # fmt: skip
    every_byte = result.output.encode() + b"".join(p.read_bytes() for p in out.iterdir())
    tokens = cnic_tokens([*CNICS, STRANGER], bytes.fromhex(SECRET_HEX))[0]
    raws = [*CNICS, STRANGER, "3001234567", "3001234568", "3001234569", SECRET_HEX]
    for raw in [*raws, *(str(t) for t in tokens)]:
        assert raw.encode() not in every_byte, raw


def test_plain_output_without_a_run(tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "out"
    result = invoke(env, claims_file(tmp_path), "--registry", registry_file(tmp_path), "--out", out)
    assert result.exit_code == 0, result.output
    assert "6 claims checked" in result.output
    assert "registered: 3" in result.output and "not_registered: 1" in result.output
    assert "flagged stated_location_mismatch: 1" in result.output
    assert not any(c in result.output for c in CNICS)


@pytest.mark.parametrize("problem", ["no_secret", "no_cnic_column", "no_tokens", "no_run"])
def test_unusable_input_exits_2_and_writes_nothing(
    tmp_path: Path, env: dict[str, str], problem: str
) -> None:
    claims = claims_file(tmp_path)
    registry = registry_file(tmp_path, tokens=problem != "no_tokens")
    args: list[str | Path] = [claims, "--registry", registry, "--out", tmp_path / "out"]
    if problem == "no_secret":
        env = {k: v for k, v in env.items() if k != SECRET_ENV}
    if problem == "no_cnic_column":
        claims.write_text(claims.read_text().replace("CNIC,", "id,", 1))
    if problem == "no_run":
        args += ["--run", tmp_path / "nowhere"]
    result = invoke(env, *args)
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "out").exists()
    assert not any(c in result.output for c in CNICS)
    assert "Traceback" not in result.output


def test_probable_same_households_are_grouped_without_their_names(
    tmp_path: Path, env: dict[str, str]
) -> None:
    path = tmp_path / "claims.csv"
    path.write_text(
        "cnic,phone,stated_tehsil,name,address\n"
        "5440012345671,03007654321,Sukkur,Gulnaz Begum,Goth Qurban\n"
        '5440012345672,,SUKKUR,"BEGUM, Gulnaz",goth qurban\n'
        "5440012345673,0300-7654321,Sukkur,Pervaiz Elahi,Kot Wazir\n"
        "5440012345674,,Sukkur,Pervaiz Elahi,Kot Wazir 2\n"
    )
    out = tmp_path / "out"
    args = [path, "--registry", registry_file(tmp_path), "--out", out]
    result = invoke(env, *args, "--run", run_folder(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["unregistered_groups"] == {
        "groups": 1,
        "claims": 3,
        "linked_by": {"phone": 0, "name+address": 0, "phone;name+address": 1},
    }
    groups = pd.read_csv(out / "unregistered_groups.csv", dtype=str)
    assert groups[["rows", "size", "linked_by"]].values.tolist() == [
        ["1;2;3", "3", "phone;name+address"]
    ]
    result = invoke(env, *args)
    assert "1 groups of 3 claims" in result.output
    every_byte = (result.output + "".join(p.read_text() for p in out.iterdir())).casefold()
    for word in ("gulnaz", "begum", "qurban", "pervaiz", "elahi", "wazir", "7654321"):
        assert word not in every_byte, word
