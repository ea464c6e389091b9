"""Claims check: each decision and flag on a hand-built registry and caseload, precedence, bad
input, and no raw number in any output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rahat.engine.claims.decide import RegistryIndex, decide_claims
from rahat.engine.claims.duplicates import LINK_NAME_ADDRESS, LINK_PHONE, group_unregistered
from rahat.engine.claims.outputs import FILES, write_claims_outputs
from rahat.engine.claims.read import read_claims
from rahat.engine.claims.run import load_run
from rahat.engine.targeting.caseload import DECISIONS
from rahat.geo.errors import SchemaError, TooLargeError, UnreadableFileError
from rahat.geo.registry.identity import cnic_tokens, phone_tokens
from rahat.geo.registry.model import Registry

SECRET = b"test-claims-secret-0123456789abcdefghij"
#: Raw CNICs of households 1..6 (household 6 has none in the registry).
CNIC = {
    1: "3520212345671",
    2: "3520212345672",
    3: "3520212345673",
    4: "4210112345674",
    5: "4210112345675",
}
#: CNICs of nobody in the registry.
STRANGER = ["5440012345671", "5440012345672", "5440012345673"]


def registry() -> Registry:
    """Households 1-3 in exposed tehsil PKT01 (Sukkur), 4-5 in PKT02 (Karachi), 6 without CNIC."""
    tokens, _ = cnic_tokens([CNIC.get(i, "") for i in range(1, 7)], SECRET)
    tehsil = [0, 0, 0, 1, 1, 1]
    frame = pd.DataFrame(
        {
            "household_id": np.arange(1, 7, dtype=np.int64) * 100,
            "district": pd.Categorical.from_codes(tehsil, ["Sukkur", "Karachi"]),
            "tehsil": pd.Categorical.from_codes(tehsil, ["Sukkur City", "Saddar"]),
            "district_pcode": pd.Categorical.from_codes(tehsil, ["PK0601", "PK0701"]),
            "tehsil_pcode": pd.Categorical.from_codes(tehsil, ["PKT01", "PKT02"]),
            "cnic_token": tokens,
        }
    )
    return Registry.from_frame(frame, source="test")


def run_dir(tmp_path: Path) -> Path:
    """Household 100 selected, 200 cut by the budget, 300 exposed not eligible, 400 considered
    but not exposed; 500 and 600 not considered."""
    folder = tmp_path / "run"
    folder.mkdir(exist_ok=True)
    decision = ["selected", "cut_budget", "not_eligible", "not_eligible"]
    table = pa.table(
        {
            "household_id": np.array([300, 100, 400, 200], dtype=np.int64),
            "rank": pa.array([None, 1, None, 2], type=pa.int64()),
            "exposed": [True, True, False, True],
            "amount": np.array([0, 30_000, 0, 0], dtype=np.int64),
            "decision": pd.Categorical(
                [decision[i] for i in (2, 0, 3, 1)], categories=list(DECISIONS)
            ),
            "reasons": [
                "pmt<=32:fail;pmt<=32: fail (41.2)",
                "pmt<=32:pass;selected: within the budget",
                "pmt<=32:fail;pmt<=32: fail (50.0)",
                "pmt<=32:pass;budget: cut at rank 2 (score 0.41 < 0.42 at the cut)",
            ],
            "tehsil": ["Sukkur City", "Sukkur City", "Saddar", "Sukkur City"],
            "tehsil_pcode": ["PKT01", "PKT01", "PKT02", "PKT01"],
            "lon": [68.85, 68.86, 67.0, 68.87],
            "lat": [27.70, 27.71, 24.9, 27.72],
        }
    )
    pq.write_table(table, folder / "caseload.parquet")
    (folder / "manifest.json").write_text(
        json.dumps({"totals": {"budget_total": 30_000, "selected": 1, "eligible": 2}})
    )
    return folder


def claims_csv(tmp_path: Path, rows: list[dict[str, str]], name: str = "claims.csv") -> Path:
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def check(tmp_path: Path, rows: list[dict[str, str]], *, with_run: bool = True, velocity: int = 5):
    batch = read_claims(claims_csv(tmp_path, rows), SECRET)
    run = load_run(run_dir(tmp_path)) if with_run else None
    return batch, decide_claims(batch, RegistryIndex.build(registry()), run, velocity=velocity)


def codes(decided) -> list[str]:
    return list(decided.reasons())


def test_each_standing_with_rank_amount_and_cause(tmp_path: Path) -> None:
    rows = [
        {"cnic": CNIC[1], "stated_tehsil": "PKT01"},
        {"cnic": "35202-1234567-2", "stated_tehsil": "Sukkur City"},
        {"cnic": CNIC[3], "stated_tehsil": "sukkur city"},
        {"cnic": CNIC[4], "stated_tehsil": "PKT02"},
        {"cnic": CNIC[5], "stated_tehsil": "PKT02"},
        {"cnic": STRANGER[0], "stated_tehsil": "PKT01"},
        {"cnic": STRANGER[1], "stated_tehsil": "PKT02"},
        {"cnic": STRANGER[2], "stated_tehsil": "PKT02", "lon": "68.861", "lat": "27.712"},
    ]
    _, decided = check(tmp_path, rows)
    assert codes(decided) == [
        "in_caseload",
        "eligible_not_selected",
        "registered_not_eligible",
        "registered_outside_footprint",  # considered, not exposed
        "registered_outside_footprint",  # not considered
        "not_registered_in_footprint",  # stated tehsil exposed
        "not_registered_outside_footprint",
        "not_registered_in_footprint",  # location in an exposed cell
    ]
    assert decided.rank.tolist()[:3] == [1, 2, -1]
    assert decided.amount.tolist()[:2] == [30_000, 0]
    assert decided.cause[1] == "budget: cut at rank 2 (score 0.41 < 0.42 at the cut)"
    assert decided.cause[2] == "pmt<=32: fail (41.2)"
    assert decided.unit.tolist()[:4] == ["PKT01", "PKT01", "PKT01", "PKT02"]


def test_without_a_run_only_registered_or_not(tmp_path: Path) -> None:
    _, decided = check(tmp_path, [{"cnic": CNIC[1]}, {"cnic": STRANGER[0]}], with_run=False)
    assert codes(decided) == ["registered", "not_registered"]


def test_precedence_invalid_then_duplicate_then_standing_and_flags_never_decide(
    tmp_path: Path,
) -> None:
    rows = [
        {"cnic": "1111111111111"},  # one repeated digit
        {"cnic": "1111111111111"},  # invalid twice: still invalid, not a duplicate
        {"cnic": "352021234567"},  # 12 digits
        {"cnic": CNIC[1], "stated_tehsil": "PKT02"},  # in caseload, wrong tehsil
        {"cnic": CNIC[1], "stated_tehsil": "PKT02"},  # the same again
        {"cnic": "3520-ABCDEFG-1"},
    ]
    _, decided = check(tmp_path, rows)
    assert codes(decided) == [
        "invalid_cnic",
        "invalid_cnic",
        "invalid_cnic",
        "in_caseload;stated_location_mismatch",
        "duplicate_claim;in_caseload;stated_location_mismatch",
        "invalid_cnic",
    ]


def test_stated_location_name_or_pcode_any_case_district_too(tmp_path: Path) -> None:
    rows = [
        {"cnic": CNIC[4], "stated_district": "karachi", "stated_tehsil": "SADDAR"},
        {"cnic": CNIC[5], "stated_district": "PK0701", "stated_tehsil": ""},
        {"cnic": CNIC[1], "stated_district": "Karachi", "stated_tehsil": "PKT01"},
        {"cnic": CNIC[2], "stated_district": "", "stated_tehsil": "Saddar"},
        {"cnic": STRANGER[0], "stated_district": "Nowhere", "stated_tehsil": "Nowhere"},
    ]
    _, decided = check(tmp_path, rows)
    assert decided.mismatch.tolist() == [False, False, True, True, False]


def test_phone_velocity_counts_distinct_cnics(tmp_path: Path) -> None:
    many = [{"cnic": c, "phone": "0300-1234567"} for c in (*CNIC.values(),)]  # 5 CNICs
    few = [{"cnic": c, "phone": "+92 301 7654321"} for c in STRANGER]
    few += [{"cnic": STRANGER[0], "phone": "03017654321"}] * 3  # repeats do not count
    _, decided = check(tmp_path, many + few)
    assert decided.velocity.tolist() == [True] * 5 + [False] * 6
    _, lower = check(tmp_path, many + few, velocity=3)
    assert lower.velocity.tolist() == [True] * 11
    # invalid CNICs are no CNIC: four valid ones and two invalid on a phone are not five
    invalid = [{"cnic": c, "phone": "0300-1234567"} for c in ("123", "4210x")]
    _, mixed = check(tmp_path, many[:4] + invalid)
    assert mixed.velocity.tolist() == [False] * 6


def test_outputs_have_no_raw_number_and_count_by_unit(tmp_path: Path) -> None:
    rows = [
        {"cnic": CNIC[1], "phone": "0300-1234567", "stated_tehsil": "PKT01"},
        {"cnic": CNIC[2], "phone": "03001234568", "stated_tehsil": "PKT02"},
        {"cnic": STRANGER[0], "phone": "+923001234569", "stated_tehsil": "PKT01"},
        {"cnic": "12345-678901-3", "phone": "not a phone", "lon": "x", "date": "yesterday"},
    ]
    batch, decided = check(tmp_path, rows)
    out = tmp_path / "out"
    report = write_claims_outputs(out, batch, decided, velocity=5, totals={"budget_total": 1})
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES.values())
    assert report["rejected_fields"] == {
        "phone": 1,
        "location": 1,
        "date": 1,
        "name": 0,
        "address": 0,
    }
    tokens = [
        *cnic_tokens([CNIC[1], CNIC[2], STRANGER[0]], SECRET)[0],
        *phone_tokens(["03001234567"], SECRET)[0],
    ]
    needles = [
        CNIC[1], CNIC[2], STRANGER[0], "123456789013", "678901", "3001234567", "3001234568",
        "3001234569", *(str(t) for t in tokens),
    ]  # fmt: skip
    for path in out.iterdir():
        data = path.read_bytes()
        for needle in needles:
            assert needle.encode() not in data, (path.name, needle)
    summary = pd.read_csv(out / FILES["summary"], keep_default_na=False)
    assert summary.to_dict("records") == [
        {"unit": "", "reason": "invalid_cnic", "claims": 1},
        {"unit": "PKT01", "reason": "in_caseload", "claims": 1},
        {"unit": "PKT01", "reason": "eligible_not_selected", "claims": 1},
        {"unit": "PKT01", "reason": "not_registered_in_footprint", "claims": 1},
        {"unit": "PKT01", "reason": "stated_location_mismatch", "claims": 1},
    ]
    decisions = pd.read_csv(out / FILES["decisions"], keep_default_na=False)
    assert decisions["cut_line"].tolist()[1].startswith("budget: cut at rank 2")
    assert decisions["rank"].tolist() == ["1", "2", "", ""]


def test_bad_files_are_refused_without_quoting_a_cell(tmp_path: Path) -> None:
    no_cnic = claims_csv(tmp_path, [{"id_number": CNIC[1]}], "a.csv")
    with pytest.raises(SchemaError, match="no 'cnic' column"):
        read_claims(no_cnic, SECRET)
    ragged = tmp_path / "b.csv"
    ragged.write_text(f"cnic,phone\n{CNIC[1]},0300\n{CNIC[2]},0300,{CNIC[3]},x\n")
    with pytest.raises(UnreadableFileError) as caught:
        read_claims(ragged, SECRET)
    assert "line 3" in str(caught.value) and CNIC[3] not in str(caught.value)
    binary = tmp_path / "c.csv"
    binary.write_bytes(b"cnic\n\xff\xfe" + CNIC[1].encode() + b"\n")
    with pytest.raises(UnreadableFileError) as caught:
        read_claims(binary, SECRET)
    assert CNIC[1] not in str(caught.value)
    header = tmp_path / "d.csv"
    header.write_text("cnic,phone\n")
    with pytest.raises(SchemaError, match="header only"):
        read_claims(header, SECRET)
    big = claims_csv(tmp_path, [{"cnic": CNIC[1]}] * 20, "e.csv")
    with pytest.raises(TooLargeError, match="bytes"):
        read_claims(big, SECRET, max_bytes=100)
    with pytest.raises(TooLargeError, match="more than 10 claims"):
        read_claims(big, SECRET, max_rows=10)
    assert len(read_claims(big, SECRET, max_rows=20)) == 20


def test_registry_without_tokens_is_refused() -> None:
    frame = registry().frame.drop(columns="cnic_token")
    with pytest.raises(SchemaError, match="cnic_token"):
        RegistryIndex.build(Registry.from_frame(frame))


def test_run_folder_without_caseload_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match=r"caseload\.parquet"):
        load_run(tmp_path)


def test_unit_is_the_pcode_else_the_name(tmp_path: Path) -> None:
    frame = registry().frame.copy()
    frame.loc[3, "tehsil_pcode"] = np.nan  # household 400 has no P-code
    batch = read_claims(claims_csv(tmp_path, [{"cnic": CNIC[4]}, {"cnic": CNIC[5]}]), SECRET)
    decided = decide_claims(batch, RegistryIndex.build(Registry.from_frame(frame)))
    assert decided.unit.tolist() == ["Saddar", "PKT02"]


def test_spreadsheet_bom_and_header_case_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf CNIC ,Phone\n" + CNIC[1].encode() + b",03001234567\n")
    batch = read_claims(path, SECRET)
    assert batch.cnic_valid.tolist() == [True] and batch.phone_token[0] != 0


def test_unregistered_claimants_of_one_household_are_grouped(tmp_path: Path) -> None:
    people = [f"54400{i:08d}" for i in range(1, 9)]
    home = "House 7, Mohalla Jadeed, Sukkur"
    rows = [
        {"cnic": people[0], "stated_tehsil": "PKT01", "name": "Ahmed Ali Khan", "address": home},
        {"cnic": people[1], "stated_tehsil": "pkt01", "name": "AHMED ALY KHAN", "address": home},
        {"cnic": people[2], "stated_tehsil": "PKT02", "name": "Ahmed Ali Khan", "address": home},
        {"cnic": people[3], "phone": "03007654321", "stated_tehsil": "PKT02"},
        {"cnic": people[4], "phone": "0300-7654321", "stated_tehsil": "PKT02"},
        {"cnic": CNIC[4], "phone": "03007654321", "stated_tehsil": "PKT02"},  # registered
        {"cnic": people[0], "stated_tehsil": "PKT01", "name": "Ahmed Ali Khan", "address": home},
        {"cnic": people[5], "stated_tehsil": "", "name": "Ahmed Ali Khan", "address": home},
        {"cnic": people[6], "stated_tehsil": " ", "name": "Ahmed Ali Khan", "address": home},
    ]
    batch, decided = check(tmp_path, rows)
    found = group_unregistered(batch, decided)
    # the repeat of a CNIC is duplicate_claim, not grouped again; no tehsil: never grouped
    assert found.group.tolist() == [1, 1, -1, 2, 2, -1, -1, -1, -1]
    assert found.linked_by.tolist() == [LINK_NAME_ADDRESS, LINK_PHONE]


def test_a_phone_behind_many_cnics_does_not_link(tmp_path: Path) -> None:
    people = [f"54400{i:08d}" for i in range(1, 5)]
    rows = [{"cnic": c, "phone": "03007654321", "stated_tehsil": "PKT02"} for c in people]
    batch, decided = check(tmp_path, rows, velocity=4)
    assert decided.velocity.all()
    assert group_unregistered(batch, decided).group.tolist() == [-1] * 4
    batch, decided = check(tmp_path, rows, velocity=5)
    assert group_unregistered(batch, decided).group.tolist() == [1] * 4


def test_groups_file_and_column_hold_no_name_or_address(tmp_path: Path) -> None:
    people = [f"54400{i:08d}" for i in range(1, 4)]
    rows = [
        {"cnic": CNIC[1], "stated_tehsil": "PKT01", "name": "Qurban Wazir", "address": "Kot"},
        {"cnic": people[0], "stated_tehsil": "PKT02", "name": "Gulnaz Begum", "address": "Goth X"},
        {"cnic": people[1], "stated_tehsil": "PKT02", "name": "gulnaz begum", "address": "goth x"},
        {"cnic": people[2], "stated_tehsil": "PKT02", "name": "Pervaiz Elahi", "address": "Goth X"},
    ]
    batch, decided = check(tmp_path, rows)
    out = tmp_path / "out"
    report = write_claims_outputs(out, batch, decided, velocity=5, totals=None)
    assert report["unregistered_groups"] == {
        "groups": 1,
        "claims": 2,
        "linked_by": {"phone": 0, "name+address": 1, "phone;name+address": 0},
    }
    decisions = pd.read_csv(out / FILES["decisions"], keep_default_na=False)
    assert decisions["duplicate_group"].tolist() == ["", "1", "1", ""]
    table = pd.read_csv(out / FILES["groups"], keep_default_na=False, dtype=str)
    assert table.to_dict("records") == [
        {"group": "1", "tehsil": "PKT02", "size": "2", "rows": "2;3", "linked_by": "name+address"}
    ]
    for path in out.iterdir():
        text = path.read_text(encoding="utf-8").casefold()
        for word in ("qurban", "wazir", "gulnaz", "begum", "pervaiz", "elahi", "goth", "kot"):
            assert word not in text, (path.name, word)


def test_a_well_formed_file_is_read_by_arrow_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "text.csv"
    path.write_text(f"cnic,phone,lon,lat,stated_tehsil\n{CNIC[1]},03001234567,68.5,27.7,007\n")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pandas read a well-formed file")

    monkeypatch.setattr(pd, "read_csv", refuse)
    batch = read_claims(path, SECRET)
    # numbers stay text: the phone's leading 0, a unit code "007"
    assert batch.phone_token.tolist() == phone_tokens(["03001234567"], SECRET)[0].tolist()
    assert batch.stated_tehsil.tolist() == ["007"] and batch.lon.tolist() == [68.5]
    twice = tmp_path / "twice.csv"
    twice.write_text(f"cnic,cnic\n{CNIC[1]},{CNIC[2]}\n")
    with pytest.raises(SchemaError, match="twice"):
        read_claims(twice, SECRET)


def test_rows_longer_than_the_header_are_refused_and_long_texts_not_used(tmp_path: Path) -> None:
    extra = tmp_path / "extra.csv"  # every row one field more: not an index column
    extra.write_text(f"cnic,phone\n{CNIC[1]},03001234567,x\n{CNIC[2]},03001234568,y\n")
    with pytest.raises(UnreadableFileError) as caught:
        read_claims(extra, SECRET)
    assert CNIC[1] not in str(caught.value)
    long = claims_csv(
        tmp_path,
        [
            {"cnic": CNIC[1], "name": "n" * 160, "address": "a" * 161},
            {"cnic": CNIC[2], "name": "n" * 161, "address": "a" * 160},
        ],
        "long.csv",
    )
    batch = read_claims(long, SECRET)
    assert batch.name.tolist() == ["n" * 160, ""]
    assert batch.address.tolist() == ["", "a" * 160]
    assert batch.rejected["name"] == 1 and batch.rejected["address"] == 1


def test_a_header_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"cnic,n\xe4me\n" + CNIC[1].encode() + b",x\n")
    with pytest.raises(UnreadableFileError, match="UTF-8") as caught:
        read_claims(latin, SECRET)
    assert CNIC[1] not in str(caught.value)


def test_exposed_cells_by_chunks_equal_all_at_once() -> None:
    from rahat.engine.claims.run import _exposed_cells, cell_keys

    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(60, 78, 1000), rng.uniform(23, 37, 1000)
    lon[::97] = np.nan
    exposed = rng.random(1000) < 0.4
    table = pa.table({"lon": lon, "lat": lat})
    expected = np.unique(cell_keys(lon[exposed], lat[exposed]))
    for chunk in (1, 7, 999, 1000, 4096):
        np.testing.assert_array_equal(_exposed_cells(table, exposed, chunk=chunk), expected)
