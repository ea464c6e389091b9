"""Registration referrals of a claims check: exact counts per tehsil and cell on a hand-made
batch, households of a probable-duplicate group counted once, and no personal field written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rahat.engine.claims.decide import CODES, ClaimDecisions
from rahat.engine.claims.duplicates import DuplicateGroups
from rahat.engine.claims.outputs import FILES, write_claims_outputs
from rahat.engine.claims.read import Claims
from rahat.engine.claims.referrals import (
    REFERRAL_COLUMNS,
    REFERRALS_FILE,
    cell_centres,
    referrals_frame,
)
from rahat.engine.claims.run import CELL_DEGREES, cell_keys

R, OUT, DUP, PAID = (
    CODES.index(c)
    for c in (
        "not_registered_in_footprint",
        "not_registered_outside_footprint",
        "duplicate_claim",
        "in_caseload",
    )
)
NAN = float("nan")
#: (decision, standing, stated tehsil, lon, lat, group) per claim; see :func:`test_...`.
BATCH = [
    (R, R, "PKT01", 68.01, 27.01, 1),  # cell A, group 1
    (R, R, "pkt01", 68.04, 27.04, 1),  # cell A, group 1 again: one household
    (R, R, "PKT01", 68.06, 27.01, -1),  # cell B
    (R, R, "PKT01", NAN, NAN, 1),  # no location; group 1 already counted in cell A
    (R, R, "Sukkur City", NAN, NAN, -1),  # a tehsil name
    (R, R, "", 67.01, 24.91, -1),  # no tehsil, a location
    (OUT, OUT, "PKT01", 68.01, 27.01, -1),  # outside the footprint: not referred
    (DUP, R, "PKT01", 68.01, 27.01, -1),  # a repeated CNIC: not referred again
    (R, R, "PKT01", NAN, NAN, 2),  # group 2 ...
    (R, R, "PKT01", NAN, NAN, 2),  # ... counted once
    (PAID, PAID, "PKT01", 68.01, 27.01, -1),  # in the caseload
]
NAMES = [f"Claimant Name {i}" for i in range(len(BATCH))]
ADDRESSES = [f"House {i}, Secret Street" for i in range(len(BATCH))]


def batch() -> tuple[Claims, ClaimDecisions, DuplicateGroups]:
    decision, standing, tehsil, lon, lat, group = (np.array(c) for c in zip(*BATCH, strict=True))
    n = len(BATCH)
    claims = Claims(
        row=np.arange(1, n + 1, dtype=np.int64),
        cnic_token=np.arange(10**15, 10**15 + n, dtype=np.int64),
        cnic_valid=np.ones(n, bool),
        phone_token=np.arange(7 * 10**14, 7 * 10**14 + n, dtype=np.int64),
        stated_district=np.full(n, "", dtype=object),
        stated_tehsil=tehsil.astype(object),
        lon=lon.astype(np.float64),
        lat=lat.astype(np.float64),
        name=np.array(NAMES, dtype=object),
        address=np.array(ADDRESSES, dtype=object),
    )
    decided = ClaimDecisions(
        decision=decision.astype(np.int8),
        standing=standing.astype(np.int8),
        mismatch=np.zeros(n, bool),
        velocity=np.zeros(n, bool),
        rank=np.full(n, -1, dtype=np.int64),
        amount=np.zeros(n, dtype=np.int64),
        cause=np.full(n, "", dtype=object),
        unit=tehsil.astype(object),
    )
    groups = DuplicateGroups(group=group.astype(np.int64), linked_by=np.array([2, 2]))
    return claims, decided, groups


def test_referrals_are_counted_per_tehsil_and_cell_with_groups_once() -> None:
    table = referrals_frame(*batch())
    assert list(table.columns) == list(REFERRAL_COLUMNS)
    rows = [
        (t, None if np.isnan(x) else round(x, 6), None if np.isnan(y) else round(y, 6), c, h)
        for t, x, y, c, h in table.itertuples(index=False)
    ]
    assert rows == [
        ("", 67.025, 24.925, 1, 1),
        ("PKT01", None, None, 3, 1),  # rows 4 (group 1, counted in cell A), 9 and 10 (group 2)
        ("PKT01", 68.025, 27.025, 2, 1),  # cell A: rows 1 and 2, one household
        ("PKT01", 68.075, 27.025, 1, 1),  # cell B
        ("Sukkur City", None, None, 1, 1),
    ]
    assert table["claims"].sum() == 8 and table["households"].sum() == 5


def test_a_batch_with_no_referral_gives_an_empty_table() -> None:
    claims, decided, groups = batch()
    other = ClaimDecisions(
        **{**decided.__dict__, "decision": np.full(len(claims), OUT, dtype=np.int8)}
    )
    table = referrals_frame(claims, other, groups)
    assert list(table.columns) == list(REFERRAL_COLUMNS) and table.empty


@pytest.mark.parametrize(
    ("lon", "lat"), [(67.01, 24.91), (-0.01, -0.01), (179.99, -89.99), (60.0, 23.5)]
)
def test_cell_centres_invert_cell_keys(lon: float, lat: float) -> None:
    x, y = cell_centres(cell_keys(np.array([lon]), np.array([lat])))
    assert abs(x[0] - lon) <= CELL_DEGREES / 2 + 1e-9 and abs(y[0] - lat) <= CELL_DEGREES / 2 + 1e-9
    back = cell_keys(x, y)
    assert back.tolist() == cell_keys(np.array([lon]), np.array([lat])).tolist()


def test_the_referrals_file_is_written_with_the_others_and_holds_no_personal_field(
    tmp_path: Path,
) -> None:
    claims, decided, groups = batch()
    out = tmp_path / "out"
    payload = write_claims_outputs(out, claims, decided, velocity=5, totals=None, groups=groups)
    assert FILES["referrals"] == REFERRALS_FILE
    assert payload["registration_referrals"] == {
        "file": REFERRALS_FILE,
        "claims": 8,
        "households": 5,
        "rows": 5,
        "claims_with_location": 4,
    }
    report = json.loads((out / FILES["report"]).read_text())
    assert report["registration_referrals"] == payload["registration_referrals"]
    text = (out / REFERRALS_FILE).read_text()
    assert text.splitlines()[0] == ",".join(REFERRAL_COLUMNS)
    written = pd.read_csv(out / REFERRALS_FILE, keep_default_na=False)
    assert len(written) == 5
    for secret in [*NAMES, *ADDRESSES, "Secret", "Claimant"]:
        assert secret not in text
    for token in [*claims.cnic_token.tolist(), *claims.phone_token.tolist()]:
        assert str(token) not in text
    assert not any(p.name.startswith(".") for p in out.iterdir())  # no temporary left
