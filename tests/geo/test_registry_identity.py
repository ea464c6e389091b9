"""Registry identity tokens: raw CNICs and phones are tokenised on import and never written."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from rahat.geo.errors import InputError
from rahat.geo.paths import repo_root
from rahat.geo.registry.identity import (
    SECRET_ENV,
    cnic_province,
    cnic_tokens,
    phone_tokens,
)
from rahat.geo.registry.snapshot import import_registry, load_snapshot
from rahat.geo.registry.synth_identity import IDENTITY_FILE, PHONE_REUSE, SECRET_FILE
from rahat.geo.registry.validate import read_registry

SAMPLE = repo_root() / "data" / "samples" / "registry_sample.csv"
SECRET_HEX = "5e" * 32
SECRET = bytes.fromhex(SECRET_HEX)
#: Rows of the sample given an invalid CNIC: 0 and 1 are valid rows, 2 is a rejected one.
BAD_CNIC_ROWS = (0, 1)


def _raw_numbers(n: int) -> tuple[list[str], list[str]]:
    cnic = [f"{42101 + i:05d}-{1234567 + 7 * i:07d}-{i % 10}" for i in range(n)]
    phone = [f"0300{4500000 + 13 * i:07d}" for i in range(n)]
    return cnic, phone


@pytest.fixture()
def raw_registry(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """The sample registry with raw ``cnic`` and ``phone`` columns, some CNICs invalid."""
    frame = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    cnic, phone = _raw_numbers(len(frame))
    report = read_registry(SAMPLE)
    rejected = set(report.rejects["row"])
    assert not rejected & set(BAD_CNIC_ROWS)
    first_rejected = min(rejected)
    cnic[BAD_CNIC_ROWS[0]] = "4210112345"  # too short
    cnic[BAD_CNIC_ROWS[1]] = "1111111111111"  # placeholder
    cnic[first_rejected] = "99999-9999999"  # a rejected row with a bad CNIC: not counted
    frame["cnic"] = cnic
    frame["phone"] = phone
    path = tmp_path / "raw.csv"
    frame.to_csv(path, index=False)
    return path, frame


@pytest.fixture()
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET_HEX)


def _raw_strings(frame: pd.DataFrame) -> list[bytes]:
    """Every raw number of ``frame`` as written and as bare digits."""
    values = set(frame["cnic"]) | set(frame["phone"])
    values |= {v.replace("-", "") for v in values}
    return [v.encode() for v in values if len(v) >= 10]


def _assert_no_raw(folder: Path, frame: pd.DataFrame) -> None:
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files
    raw = _raw_strings(frame)
    for path in files:
        data = path.read_bytes()
        leaked = [v for v in raw if v in data]
        assert not leaked, f"{path.name} holds raw numbers {leaked[:3]}"


def test_import_writes_tokens_and_no_raw_number(
    raw_registry: tuple[Path, pd.DataFrame], tmp_path: Path, secret_env: None
) -> None:
    path, frame = raw_registry
    out = tmp_path / "out"
    info = import_registry(path, out / "snapshot", rejects_path=out / "rejects.csv")
    registry, _ = load_snapshot(out / "snapshot")
    households = registry.frame
    assert {"cnic_token", "phone_token"} <= set(households.columns)
    assert not {"cnic", "phone"} & set(households.columns)
    assert "cnic" not in info.ignored_columns
    expected = frame.assign(
        household_id=frame["household_id"].astype("int64"),
        cnic_token=cnic_tokens(list(frame["cnic"]), SECRET)[0],
        phone_token=phone_tokens(list(frame["phone"]), SECRET)[0],
    ).set_index("household_id")
    got = households.set_index("household_id")
    np.testing.assert_array_equal(
        got["cnic_token"], expected.loc[got.index, "cnic_token"].to_numpy()
    )
    np.testing.assert_array_equal(
        got["phone_token"], expected.loc[got.index, "phone_token"].to_numpy()
    )
    assert (got["phone_token"] != 0).all()
    _assert_no_raw(out, frame)


def test_validate_cli_writes_no_raw_number_and_warns_of_invalid_cnics(
    raw_registry: tuple[Path, pd.DataFrame], tmp_path: Path, secret_env: None
) -> None:
    from rahat.api.cli.main import app

    path, frame = raw_registry
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "registry",
            "validate",
            str(path),
            "--rejects",
            str(out / "rejects.csv"),
            "--flags",
            str(out / "flags.csv"),
            "--out",
            str(out / "valid.parquet"),
            "--json",
        ],
    )
    assert result.exit_code == 1, result.output  # the sample's own rejected rows
    assert not any(v.decode() in result.output for v in _raw_strings(frame))
    assert SECRET_HEX not in result.output
    _assert_no_raw(out, frame)
    written = pq.read_table(out / "valid.parquet").to_pandas()
    assert int((written["cnic_token"] == 0).sum()) == len(BAD_CNIC_ROWS)
    assert f"{len(BAD_CNIC_ROWS)} households have no valid CNIC" in result.output


def test_invalid_cnics_keep_their_rows(
    raw_registry: tuple[Path, pd.DataFrame], secret_env: None
) -> None:
    path, _ = raw_registry
    with_numbers = read_registry(path)
    without = read_registry(SAMPLE)
    assert with_numbers.n_valid == without.n_valid
    assert with_numbers.n_rejected == without.n_rejected
    notes = [n for n in with_numbers.notes if "no valid CNIC" in n]
    assert notes == [
        f"{len(BAD_CNIC_ROWS)} households have no valid CNIC (empty, not 13 digits or a "
        "placeholder): kept with cnic_token 0"
    ]


@pytest.mark.parametrize(
    ("value", "problem"),
    [(None, "is not set"), ("ab" * 20, "too short"), ("zz" * 32, "not hex")],
)
def test_missing_or_short_secret_is_a_clear_input_error(
    raw_registry: tuple[Path, pd.DataFrame],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    value: str | None,
    problem: str,
) -> None:
    from rahat.api.cli.main import app

    path, _ = raw_registry
    if value is None:
        monkeypatch.delenv(SECRET_ENV, raising=False)
    else:
        monkeypatch.setenv(SECRET_ENV, value)
    with pytest.raises(InputError, match=problem) as caught:
        read_registry(path)
    assert SECRET_ENV in str(caught.value)
    if value is not None:
        assert value not in str(caught.value)
    rejects = tmp_path / "rejects.csv"
    result = CliRunner().invoke(app, ["registry", "validate", str(path), "--rejects", str(rejects)])
    assert result.exit_code == 2, result.output
    assert SECRET_ENV in result.output
    assert not rejects.exists()  # nothing written before the refusal


def test_a_registry_without_raw_numbers_needs_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    report = read_registry(SAMPLE)
    assert "cnic_token" not in report.registry.frame
    assert not [n for n in report.notes if "CNIC" in n]


# ------------------------------------------------------------------------------------ demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A small demo written under the deployment secret."""
    from rahat.geo.registry.synth import write_demo

    out = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SECRET_ENV, SECRET_HEX)
        write_demo(3000, 11, out)
    yield out


def _identity(folder: Path) -> pd.DataFrame:
    frame = pd.read_csv(folder / IDENTITY_FILE, dtype=str, keep_default_na=False)
    return frame.assign(household_id=frame["household_id"].astype("int64"))


def test_demo_writes_tokens_and_keeps_raw_numbers_apart(demo: Path) -> None:
    ids = _identity(demo)
    assert list(ids.columns) == ["household_id", "cnic", "phone"]
    population = pq.read_table(demo / "population.parquet").to_pandas()
    registry = pq.read_table(demo / "registry.parquet").to_pandas()
    assert sorted(ids["household_id"]) == sorted(population["household_id"])
    assert not (demo / SECRET_FILE).exists()  # the environment's secret was used
    for frame in (population, registry):
        assert not {"cnic", "phone"} & set(frame.columns)
        merged = frame.merge(ids, on="household_id", validate="one_to_one")
        cnic, valid = cnic_tokens(list(merged["cnic"]), SECRET)
        phone, phone_valid = phone_tokens(list(merged["phone"]), SECRET)
        assert valid.all() and phone_valid.all()
        np.testing.assert_array_equal(merged["cnic_token"], cnic)
        np.testing.assert_array_equal(merged["phone_token"], phone)
    assert ids["cnic"].is_unique
    others = [p for p in demo.iterdir() if p.name != IDENTITY_FILE]
    for path in others:
        data = path.read_bytes()
        assert not [v for v in ids["cnic"].head(200) if v.encode() in data], path.name
        assert not [v for v in ids["phone"].head(200) if v[1:].encode() in data], path.name


def test_demo_cnic_digits_follow_province_and_district(demo: Path) -> None:
    population = pq.read_table(demo / "population.parquet").to_pandas()
    merged = population.merge(_identity(demo), on="household_id")
    province = merged["province"].astype(str)
    read = merged["cnic"].map(cnic_province)
    ajk = province == "Azad Jammu & Kashmir"
    assert (read[~ajk] == province[~ajk]).all()
    assert (merged.loc[ajk, "cnic"].str[0] == "8").all()
    district = merged["cnic"].str[1:3]
    per_district = merged.assign(code=district).groupby("district", observed=True)["code"]
    assert (per_district.nunique() == 1).all()  # one code per district
    codes = merged.assign(code=merged["cnic"].str[:3]).groupby("code")["district"]
    assert (codes.nunique() == 1).all()  # and no two districts share one
    parity = merged["cnic"].str[-1].astype(int) % 2
    assert (parity == np.where(merged["female_headed"], 0, 1)).all()


def test_demo_households_share_some_phones_within_a_district(demo: Path) -> None:
    population = pq.read_table(demo / "population.parquet").to_pandas()
    merged = population.merge(_identity(demo), on="household_id")
    shared = merged[merged["phone"].duplicated(keep=False)]
    share = len(shared) / len(merged)
    assert PHONE_REUSE / 2 < share < PHONE_REUSE * 3
    assert (shared.groupby("phone")["district"].nunique() == 1).all()


def test_demo_without_secret_keeps_a_private_random_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from rahat.geo.registry.synth import write_demo

    monkeypatch.delenv(SECRET_ENV, raising=False)
    write_demo(400, 3, tmp_path)
    path = tmp_path / SECRET_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    secret = bytes.fromhex(path.read_text())
    assert len(secret) >= 32
    err = capsys.readouterr().err
    assert err.count(SECRET_ENV) == 1
    assert path.read_text().strip() not in err
    registry = pq.read_table(tmp_path / "registry.parquet").to_pandas()
    merged = registry.merge(_identity(tmp_path), on="household_id")
    np.testing.assert_array_equal(
        merged["cnic_token"], cnic_tokens(list(merged["cnic"]), secret)[0]
    )
    write_demo(300, 4, tmp_path)  # a later demo in the folder keeps the secret
    assert bytes.fromhex(path.read_text()) == secret
