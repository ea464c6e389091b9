"""Issue 17: no raw CNIC, phone number or identity secret in anything Rahat writes or answers.

Distinctive numbers (CNICs dashed and not, phones as ``03xx``, ``+92`` and ``0092``, invalid
ones too) enter by every door: a registry file with raw ``cnic``/``phone`` columns imported and
validated (kept, rejected and invalid rows), ``rahat claims check`` on good, malformed and
unusable files, a real ``rahat serve`` process (``POST /claims`` by each role, grievances
opened, read, moved and exported, the audit log and its exports, 422s on bad numbers) and
``rahat demo``. Then every file left under the test's folder (state, cache, outputs, server
log; Parquet and Arrow decoded as well as read as bytes; the database dumped table by table),
every stdout/stderr and every API response body is searched for each number in all its
forms (with or without dashes or spaces, 13 digits, E.164 ``+923...``, national ``3...``, as
text or as a binary 64-bit integer) and for the secret. Only the inputs the test wrote and the
demo's ``identity_demo.csv`` (raw numbers on purpose, for tests) may hold them.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import (
    Service,
    api_client,
    backends,
    make_settings,
    ngo_agreement,
    start_server,
    start_service,
)
from identity_leaks import Needles, Seen, digits, dump_database, leaks, national, needles_of

from rahat.geo.registry.identity import SECRET_ENV

SECRET_HEX = "7e3ac1d9" * 8

#: Registry households: (household_id, lon, lat, district, tehsil P-code, raw CNIC, raw phone).
#: 500 lies outside Pakistan (a rejected row); 600 has an invalid CNIC and phone (kept).
HOUSEHOLDS = [
    (100, 67.61, 26.73, "Dadu", "PK70301", "41304-7182936-1", "0300-7182936"),
    (200, 67.62, 26.74, "Dadu", "PK70301", "4130471829372", "+92 321 7182937"),
    (300, 67.50, 26.80, "Dadu", "PK70302", "41304 7182938 3", "0092-333-7182938"),
    (400, 68.20, 27.56, "Larkana", "PK71303", "4150171829394", "03457182939"),
    (500, 10.00, 10.00, "Dadu", "PK70301", "41304-7182940-5", "+923007182940"),
    (600, 67.63, 26.75, "Dadu", "PK70301", "41304-718294-1", "0301-718294"),
]
TEHSILS = {"PK70301": "Dadu", "PK70302": "Johi", "PK71303": "Larkana"}
#: Claimants not in the registry, and malformed numbers claimants typed.
STRANGER_CNICS = ["41304-9182936-7", "4150191829368"]
STRANGER_PHONES = ["+92 300 9182936", "00923009182937", "0300-9182938"]
BAD_CNICS = ["41304-91829-6", "413049182936x1", "4130491829369111"]

CLAIMS_HEADER = "cnic,phone,stated_district,stated_tehsil,lon,lat,date,name,address"


def rahat(
    seen: Seen,
    env: dict[str, str],
    *args: str | Path,
    code: int | set[int] = 0,
    process: bool = False,
) -> str:
    """Run ``rahat ARGS`` in-process (or as a process); record its output; check its exit code.

    In-process, log records of every level reach the ``caplog`` the test searches.
    """
    label = "rahat " + " ".join(map(str, args[:3]))
    if process:
        done = subprocess.run(
            [sys.executable, "-c", "from rahat.api.cli import main; main()", *map(str, args)],
            env={**os.environ, **env},
            capture_output=True,
            timeout=120,
        )
        out, err, exit_code = done.stdout, done.stderr, done.returncode
    else:
        from typer.testing import CliRunner

        from rahat.api.cli.main import app as cli

        result = CliRunner().invoke(cli, list(map(str, args)), env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        out, err, exit_code = result.stdout_bytes, result.stderr_bytes or b"", result.exit_code
    seen.add(f"{label} (stdout)", out)
    seen.add(f"{label} (stderr)", err)
    assert exit_code in ({code} if isinstance(code, int) else code), (
        args,
        exit_code,
        out[-2000:],
        err[-2000:],
    )
    assert b"Traceback" not in err, err[-3000:]
    return out.decode()


def registry_csv(path: Path) -> Path:
    """A registry of :data:`HOUSEHOLDS` with raw ``cnic`` and ``phone`` columns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "household_id",
                "lon",
                "lat",
                "province",
                "district",
                "tehsil",
                "tehsil_pcode",
                "pmt_score",
                "household_size",
                "children_under5",
                "elderly",
                "disabled",
                "female_headed",
                "dwelling",
                "livelihood",
                "last_updated",
                "cnic",
                "phone",
            ]
        )
        for hid, lon, lat, district, tehsil, cnic, phone in HOUSEHOLDS:
            writer.writerow(
                [
                    hid,
                    lon,
                    lat,
                    "Sindh",
                    district,
                    TEHSILS[tehsil],
                    tehsil,
                    20.0,
                    5,
                    0,
                    0,
                    0,
                    "false",
                    "kacha",
                    "daily_wage",
                    "2021-01-01",
                    cnic,
                    phone,
                ]
            )
    return path


def all_needles() -> Needles:
    cnics = [h[5] for h in HOUSEHOLDS if h[0] != 600] + STRANGER_CNICS
    phones = [h[6] for h in HOUSEHOLDS if h[0] != 600] + STRANGER_PHONES
    return needles_of(SECRET_HEX, cnics, phones, (HOUSEHOLDS[-1][5], HOUSEHOLDS[-1][6], *BAD_CNICS))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "tmp").mkdir()
    return {
        SECRET_ENV: SECRET_HEX,
        "RAHAT_CACHE_DIR": str(tmp_path / "cache"),
        "TMPDIR": str(tmp_path / "tmp"),  # a temporary file left behind is searched too
        "NO_COLOR": "1",
    }


def imported_registry(
    seen: Seen, env: dict[str, str], root: Path, inputs: set[Path], *, every_command: bool = True
) -> Path:
    """Validate (and import, verify, describe) the raw registry; return the valid GeoParquet."""
    source = registry_csv(root / "input" / "registry.csv")
    inputs.add(source)
    cnics, phones = (
        {digits(h[5]) for h in HOUSEHOLDS[:5]},
        {national(h[6]) for h in HOUSEHOLDS[:5]},
    )
    assert leaks(source.read_bytes(), all_needles()) >= cnics | phones  # the search finds them
    valid = root / "registry.parquet"
    out = rahat(
        seen,
        env,
        "registry",
        "validate",
        source,
        "--rejects",
        root / "rejects.csv",
        "--out",
        valid,
        "--flags",
        root / "flags.csv",
        code=1,
        process=every_command,
    )
    assert "1 rejected" in out, out
    if not every_command:
        return valid
    report = json.loads(
        rahat(
            seen,
            env,
            "registry",
            "validate",
            source,
            "--rejects",
            root / "r2.csv",
            "--json",
            code=1,
        )
    )
    assert (report["valid"], report["rejected"]) == (5, 1), report
    rahat(
        seen,
        env,
        "registry",
        "import",
        source,
        "--out",
        root / "snapshot",
        "--rejects",
        root / "snapshot_rejects.csv",
        code=1,
    )
    rahat(seen, env, "registry", "verify", root / "snapshot", "--json")
    rahat(seen, env, "registry", "info", valid, "--json")
    # without the secret a raw file is refused, in words that quote no number
    no_secret = {k: v for k, v in env.items() if k != SECRET_ENV}
    rahat(seen, no_secret, "registry", "import", source, "--out", root / "refused", code=2)
    return valid


def write_input(inputs: set[Path], path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    inputs.add(path)
    return path


def claims_rows() -> list[str]:
    (h100, h200, h300, h400) = HOUSEHOLDS[:4]
    return [
        f"{digits(h100[5])},{national(h100[6])},Dadu,Dadu,,,2022-09-01,Gul Bibi,Goth A",
        f"41304-{digits(h200[5])[5:12]}-2,+92{national(h200[6])},Dadu,PK70301,,,2022-09-01,,",
        f"{h300[5]},0{national(h300[6])},,Dadu,67.5,26.8,,,",
        f'{h400[5]},"{h400[6]}",Larkana,Larkana,,,,,',
        f"{STRANGER_CNICS[0]},{STRANGER_PHONES[0]},Dadu,Johi,,,,Ali Raza,Goth B",
        f"{STRANGER_CNICS[1]},{STRANGER_PHONES[1]},,Dadu,,,,Ali Raza,Goth B",
        f"{HOUSEHOLDS[4][5]},{STRANGER_PHONES[2]},Dadu,Dadu,,,,,",
        f"{BAD_CNICS[0]},{HOUSEHOLDS[-1][6]},Dadu,Dadu,,,,,",
        f"{BAD_CNICS[1]},,Dadu,,,,,,",
        f"{BAD_CNICS[2]},not a phone,,,,,,,",
        f"{digits(h100[5])},{h100[6]},Dadu,Dadu,,,2022-09-02,,",
    ]


def test_registry_and_claims_check_leave_no_raw_number(
    tmp_path: Path, env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen, inputs = Seen(), set[Path]()
    registry = imported_registry(seen, env, tmp_path, inputs)
    inputs_dir = tmp_path / "input"
    good = write_input(
        inputs, inputs_dir / "claims.csv", "\n".join([CLAIMS_HEADER, *claims_rows()]) + "\n"
    )
    for registry_arg in (registry, tmp_path / "snapshot"):
        out = tmp_path / f"claims_{registry_arg.name}"
        payload = json.loads(
            rahat(
                seen,
                env,
                "claims",
                "check",
                good,
                "--registry",
                registry_arg,
                "--out",
                out,
                "--json",
            )
        )
        assert payload["decisions"]["invalid_cnic"] == 3, payload
        rahat(
            seen,
            env,
            "claims",
            "check",
            good,
            "--registry",
            registry_arg,
            "--out",
            out.with_name(out.name + "_plain"),
        )
    # unusable or malformed input: a clear error (exit 2) or skipped cells, never a number
    rows = claims_rows()
    bad_files: dict[str, str | bytes] = {
        "no_cnic_column.csv": "\n".join([CLAIMS_HEADER.replace("cnic", "id"), *rows]),
        "ragged.csv": "\n".join([CLAIMS_HEADER, rows[0] + ",extra,cells", *rows[1:3]]),
        "quote.csv": "\n".join([CLAIMS_HEADER, f'"{rows[0]}', *rows[1:]]),
        "binary.csv": b"\x00\xff" + CLAIMS_HEADER.encode() + b"\xfe\x00\n" + rows[0].encode(),
        "empty.csv": "",
        "header_only.csv": CLAIMS_HEADER + "\n",
        "cnic_as_number.csv": "cnic,phone\n"
        + f"{digits(HOUSEHOLDS[0][5])},{national(HOUSEHOLDS[0][6])}\n",
    }
    for name, text in bad_files.items():
        path = write_input(inputs, inputs_dir / name, text)
        # every bad file exits 2 (a binary one too, see the test below), nothing leaked
        rahat(
            seen,
            env,
            "claims",
            "check",
            path,
            "--registry",
            registry,
            "--out",
            tmp_path / f"bad_{name}",
            code={0, 2, 70} if name == "binary.csv" else {0, 2},
            process=name == "binary.csv",
        )
    no_secret = {k: v for k, v in env.items() if k != SECRET_ENV}
    rahat(
        seen,
        no_secret,
        "claims",
        "check",
        good,
        "--registry",
        registry,
        "--out",
        tmp_path / "refused_claims",
        code=2,
    )
    rahat(
        seen,
        {**env, SECRET_ENV: "12" * 8},
        "claims",
        "check",
        good,
        "--registry",
        registry,
        "--out",
        tmp_path / "short_secret",
        code=2,
    )
    seen.add("log records", caplog.text.encode())
    seen.check(all_needles(), tmp_path, inputs)


def test_a_claims_file_that_is_not_text_is_a_clear_error(
    tmp_path: Path, env: dict[str, str]
) -> None:
    registry = registry_csv(tmp_path / "input" / "registry.csv")
    path = tmp_path / "input" / "binary.csv"
    path.write_bytes(
        b"\x00\xff" + CLAIMS_HEADER.encode() + b"\xfe\x00\n" + claims_rows()[0].encode()
    )
    out = rahat(
        Seen(),
        env,
        "claims",
        "check",
        path,
        "--registry",
        registry,
        "--out",
        tmp_path / "out",
        code=2,
        process=True,
    )
    assert not (tmp_path / "out").exists(), out


@pytest.fixture(params=backends())
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_the_api_leaves_no_raw_number(
    tmp_path: Path, env: dict[str, str], backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen, inputs = Seen(), set[Path]()
    registry = imported_registry(seen, env, tmp_path / "registry", inputs, every_command=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # the server process inherits them
    organisations = {
        "PDMA Sindh": "agency",
        "NDMA": "admin",
        "Relief NGO": "ngo",
        "Plan": "planner",
    }
    agreement = ngo_agreement("Relief NGO", "district:PK703", "district,tehsil,benefit")
    served = start_server(tmp_path, backend, registry, organisations, agreement)
    proc, tokens = next(served)
    try:
        clients = {role: seen.client(api_client(proc, token)) for role, token in tokens.items()}
        exercise_api(clients, ngo_id=list(organisations).index("Relief NGO") + 1)
    finally:
        for client in clients.values():
            client.close()
        served.close()
    seen.add("database", dump_database(proc.env["RAHAT_DATABASE_URL"]))
    seen.check(all_needles(), tmp_path, inputs)


def api_claim(cnic: str, phone: str | None = None, tehsil: str = "PK70301") -> dict[str, Any]:
    body: dict[str, Any] = {"cnic": cnic, "stated_tehsil": tehsil, "stated_district": "PK703"}
    return body if phone is None else {**body, "phone": phone}


def exercise_api(clients: dict[str, httpx.Client], ngo_id: int) -> None:
    """Every route a raw number is given to, by each role, with good and bad input."""
    agency, admin, ngo, planner = (clients[r] for r in ("agency", "admin", "ngo", "planner"))
    h = HOUSEHOLDS
    batch = [
        api_claim(h[0][5], h[0][6]),
        api_claim(digits(h[1][5]), "+92" + national(h[1][6])),
        api_claim(h[2][5], "0092" + national(h[2][6]), "PK70302"),
        api_claim(h[3][5], h[3][6], "PK71303") | {"stated_district": "PK713"},
        api_claim(STRANGER_CNICS[0], STRANGER_PHONES[0]),
        api_claim(STRANGER_CNICS[1], STRANGER_PHONES[1]),
        api_claim(h[4][5], STRANGER_PHONES[2]),
        api_claim(BAD_CNICS[0], h[5][6]),
        api_claim(BAD_CNICS[1], "not a phone"),
        api_claim(h[0][5], h[0][6]) | {"name": "Gul Bibi", "address": "Goth A"},
    ]
    r = agency.post("/claims", json={"claims": batch})
    assert r.status_code == 200, r.text
    assert {d["decision"] for d in r.json()["decisions"]} >= {"registered", "invalid_cnic"}
    ngo_batch = [c for c in batch if c["stated_district"] == "PK703"]
    assert ngo.post("/claims", json={"claims": ngo_batch}).status_code == 200
    assert planner.post("/claims", json={"claims": batch}).status_code == 403  # individuals
    assert ngo.post("/claims", json={"claims": batch}).status_code == 403  # outside agreement
    cnic = h[0][5]
    for body, status in (
        ({"claims": [{"cnic": cnic * 3}]}, 422),  # over 40 characters
        ({"claims": [{"cnic": int(digits(cnic)), "phone": int("92" + national(h[0][6]))}]}, 422),
        ({"claims": [{"cnic": cnic, "phone": [h[0][6]]}]}, 422),
        ({"claims": [{"cnic": cnic, "national_id": cnic}]}, 422),  # unknown field
        ({"claims": [api_claim(cnic)], "cnic": cnic}, 422),
        ({"claims": [api_claim(cnic) | {"lon": cnic, "lat": h[0][6]}]}, 422),
        ({"claims": []}, 422),
        ({"claims": [api_claim(cnic) | {"date": h[0][6]}]}, 200),  # an unreadable date is ignored
        ({"claims": [api_claim(cnic, tehsil=digits(cnic)) | {"stated_district": h[0][6]}]}, 200),
    ):
        r = agency.post("/claims", json=body)
        assert r.status_code == status, (body, r.text)
    r = agency.post(
        "/claims",
        content=f'{{"claims": [{{"cnic": "{cnic}", "phone": "{h[0][6]}",}}'.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text

    # grievances: opened by the agency for the NGO, read, moved, exported
    opened = []
    for i, (cnic, decision) in enumerate(
        [
            (h[0][5], "in_caseload"),
            (digits(h[1][5]), "eligible_not_selected"),
            (STRANGER_CNICS[0], "not_registered_in_footprint"),
        ]
    ):
        ticket: dict[str, Any] = {
            "cnic": cnic,
            "decision": decision,
            "district": "Dadu",
            "tehsil": "PK70301",
            "assignee_id": ngo_id,
            "household_id": [100, 200, None][i],
        }
        r = agency.post("/grievances", json={k: v for k, v in ticket.items() if v is not None})
        assert r.status_code == 201, r.text
        opened.append(r.json()["id"])
    for bad in (
        {"cnic": BAD_CNICS[0]},
        {"cnic": BAD_CNICS[1]},
        {"cnic": BAD_CNICS[2]},
        {"cnic": h[5][5]},
        {"cnic": int(digits(h[0][5]))},
        {"cnic": h[0][5] * 3},
        {"cnic": h[0][5], "decision": "paid"},
        {"cnic": h[0][5], "phone": h[0][6]},
        {"cnic": [h[0][5]]},
    ):
        r = agency.post("/grievances", json=bad)
        assert r.status_code == 422, (bad, r.text)
    r = ngo.patch(f"/grievances/{opened[0]}", json={"status": "under_review"})
    assert r.status_code == 200, r.text
    r = agency.patch(
        f"/grievances/{opened[0]}",
        json={"status": "resolved", "note": "paid", "add_to_assisted": True},
    )
    assert r.status_code == 200, r.text
    r = agency.patch(f"/grievances/{opened[1]}", json={"cnic": h[1][5]})
    assert r.status_code == 422, r.text
    for client in (agency, ngo):
        assert client.get("/grievances").status_code == 200
        assert client.get(f"/grievances/{opened[0]}").status_code == 200
        assert client.get("/grievances/export").status_code == 200
    assert agency.get("/grievances/assisted.csv").status_code == 200
    assert admin.get("/audit", params={"limit": 10000}).status_code == 200
    for fmt in ("csv", "jsonl"):
        r = admin.get("/audit/export", params={"format": fmt})
        assert r.status_code == 200 and int(r.headers["X-Row-Count"]) > 10, r.text


@pytest.fixture
def app_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    """The app in-process (SQLite) with the identity secret: quick probes of one route."""
    monkeypatch.setenv(SECRET_ENV, SECRET_HEX)
    yield from start_service(make_settings(tmp_path))


def app_seen(service: Service) -> Seen:
    seen = Seen()
    seen.client(service.client)
    return seen


def test_a_number_in_a_grievance_unit_is_not_quoted(app_service: Service, tmp_path: Path) -> None:
    seen = app_seen(app_service)
    cnic, phone = HOUSEHOLDS[0][5], HOUSEHOLDS[1][6]
    units = ({"tehsil": digits(cnic)}, {"district": phone}, {"tehsil": cnic})
    for unit in (*units, {"reasons": ["in_caseload", cnic]}, {"decision": digits(phone)}):
        r = app_service.post("agency", "/grievances", json={"cnic": cnic, **unit})
        assert r.status_code == 422, r.text
    seen.check(all_needles(), tmp_path, set())


def test_numbers_in_grievance_notes_are_removed_before_they_are_stored(
    app_service: Service, tmp_path: Path
) -> None:
    seen = app_seen(app_service)
    h = HOUSEHOLDS
    note = f"called {h[0][6]} and +92{national(h[1][6])}; CNIC {h[2][5]} / {digits(h[3][5])}"
    r = app_service.post("agency", "/grievances", json={"cnic": h[0][5], "note": note})
    assert r.status_code == 201, r.text
    ticket = r.json()["id"]
    agency = app_service.headers("agency")
    for status, text in (("under_review", f"son: {h[2][6]}"), ("resolved", f"to {h[1][5]}")):
        change = {"status": status, "note": text}
        r = app_service.client.patch(f"/grievances/{ticket}", json=change, headers=agency)
        assert r.status_code == 200, r.text
    body = app_service.get("agency", f"/grievances/{ticket}").json()
    assert body["resolution"] == "to [number removed]" and "[number removed]" in str(body)
    assert app_service.get("agency", "/grievances/export").status_code == 200
    seen.check(all_needles(), tmp_path, set())


def test_a_cnic_in_a_url_is_neither_answered_nor_audited(
    app_service: Service, tmp_path: Path
) -> None:
    seen, h, agency = app_seen(app_service), HOUSEHOLDS, app_service.headers("agency")
    for number in (digits(h[2][5]), h[0][5], "+92" + national(h[1][6]), digits(h[3][6])):
        r = app_service.get("agency", f"/grievances/{number}")
        assert r.status_code == 404 and r.json()["instance"] == "/grievances/{number}", r.text
        r = app_service.client.patch(f"/grievances/{number}", json={}, headers=agency)
        assert r.status_code == 404, r.text
    assert app_service.get("agency", f"/nowhere/{h[0][5]}").status_code == 404
    assert app_service.get("admin", "/audit", params={"limit": 1000}).status_code == 200
    assert app_service.get("admin", "/audit/export", params={"format": "jsonl"}).status_code == 200
    seen.check(all_needles(), tmp_path, set())


def test_the_demo_writes_raw_numbers_only_to_its_identity_file(
    tmp_path: Path, env: dict[str, str]
) -> None:
    seen = Seen()
    rahat(seen, env, "demo", "--households", "1000", "--out", tmp_path / "out", "--json")
    (identity,) = (tmp_path / "cache").rglob("identity_demo.csv")
    with identity.open() as handle:
        people = list(csv.DictReader(handle))
    assert len(people) == 1000
    needles = needles_of(SECRET_HEX, [p["cnic"] for p in people], [p["phone"] for p in people])
    assert leaks(identity.read_bytes(), needles), "the search must find the numbers it is given"
    seen.check(needles, tmp_path, {identity})
