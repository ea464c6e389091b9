"""The admin-unit gazetteer: codes unique across levels, names resolved or refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rahat.geo import boundaries
from rahat.geo.errors import AmbiguousUnitError, UnknownUnitError
from rahat.geo.units import Level, gazetteer


def test_every_unit_has_one_code_and_a_known_parent() -> None:
    places = gazetteer()
    levels = pd.Series([u.level for u in places.units.values()]).value_counts()
    assert levels[Level.PROVINCE] == 7
    assert levels[Level.DISTRICT] == len(boundaries.districts())
    assert levels[Level.TEHSIL] > len(boundaries.sindh_tehsils())
    for unit in places.units.values():
        assert places.get(unit.code) is unit
        if unit.level == Level.PROVINCE:
            assert unit.parent is None
        else:
            parent = places.get(unit.parent or "")
            assert parent is not None
            assert list(Level).index(parent.level) == list(Level).index(unit.level) - 1


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("PK703", "district:PK703"),
        ("district:Dadu", "district:PK703"),
        ("tehsil:Johi", "tehsil:PK70302"),
        ("Johi", "tehsil:PK70302"),  # a name that fits one unit only
        ("district:Nowshera", "district:PK-KP/nowshera"),
        ("tehsil:pk-pb/khushab/nowshera", "tehsil:PK-PB/khushab/nowshera"),
        ("province:sindh", "province:PK-SD"),
        ("  District : dadu ", "district:PK703"),
    ],
)
def test_resolve(text: str, ref: str) -> None:
    assert gazetteer().resolve(text).ref == ref


@pytest.mark.parametrize(
    ("text", "error", "needles"),
    [
        ("Nowshera", AmbiguousUnitError, ["district:PK-KP/nowshera", "tehsil:PK-PB/khushab"]),
        ("Dadu", AmbiguousUnitError, ["district:PK703", "tehsil:PK70301"]),
        ("tehsil:Nowshera", AmbiguousUnitError, ["Khushab", "tehsil:PK-KP/nowshera/nowshera"]),
        ("Daddu", UnknownUnitError, ["closest", "district:PK703"]),
        ("tehsil:PK703", UnknownUnitError, ["not of a tehsil", "district:PK703"]),
        ("village:Dadu", UnknownUnitError, ["no admin unit"]),
        ("", UnknownUnitError, ["empty"]),
    ],
)
def test_resolve_refuses(text: str, error: type[Exception], needles: list[str]) -> None:
    with pytest.raises(error) as info:
        gazetteer().resolve(text)
    for needle in needles:
        assert needle in str(info.value)


def test_codes_of_households_match_by_level_never_by_bare_name() -> None:
    frame = pd.DataFrame(
        {
            "province": ["Khyber Pakhtunkhwa", "Punjab", "Sindh", "Sindh", "Sindh", None],
            "district": ["Nowshera", "Khushab", "Dadu", "Naushahro Feroze", "Atlantis", "X"],
            "district_pcode": [None, None, None, "PK717", None, None],
            "tehsil": ["Pabbi", "Nowshera", "Johi", "Dadu", None, None],
            "tehsil_pcode": [None, None, None, None, None, None],
        }
    )
    codes = gazetteer().codes_of(frame)
    assert list(codes[Level.PROVINCE]) == ["PK-KP", "PK-PB", "PK-SD", "PK-SD", "PK-SD", None]
    assert list(codes[Level.DISTRICT]) == [
        "PK-KP/nowshera",
        "PK-PB/khushab",
        "PK703",
        "PK717",
        "PK-SD/atlantis",  # unknown: a stable code that no agreement can hold
        None,
    ]
    tehsils = list(codes[Level.TEHSIL])
    assert tehsils[:3] == ["PK-KP/nowshera/pabbi", "PK-PB/khushab/nowshera", "PK70302"]
    assert tehsils[3] != "PK70301"  # the tehsil 'Dadu' of Naushahro Feroze is not Dadu's
    assert tehsils[4:] == [None, None]
    # The KP district and the Punjab tehsil share a name, never a code at any level.
    assert codes[Level.DISTRICT][0] not in set(tehsils)


def test_pcode_wins_over_names() -> None:
    frame = pd.DataFrame({"province": ["Sindh"], "district": ["Dadu"], "district_pcode": ["PK713"]})
    assert gazetteer().codes_of(frame)[Level.DISTRICT][0] == "PK713"


@pytest.mark.parametrize("max_radix", [2**62, 7])
def test_factorize_rows_numbers_combinations_as_a_multiindex_does(monkeypatch, max_radix) -> None:
    import rahat.geo.units as units

    monkeypatch.setattr(units, "_MAX_RADIX", max_radix)  # 7: renumbers after each column
    rng = np.random.default_rng(3)
    n = 5_000
    frame = pd.DataFrame(
        {
            "province": pd.Categorical(rng.choice(["Sindh", "Punjab", None], n)),
            "district": pd.Categorical(rng.choice(["Dadu", "Lahore", "Johi", None], n)),
            "tehsil": rng.choice(["Johi", "a", None, "b"], n).astype(object),
        }
    )
    groups, combos = units.factorize_rows(frame, ["province", "district", "tehsil"])
    expected, uniques = pd.MultiIndex.from_frame(frame.astype("string")).factorize()
    np.testing.assert_array_equal(groups, expected)
    assert combos == [tuple(None if pd.isna(v) else v for v in combo) for combo in uniques]
    labels = units.row_labels(frame, ["province", "district"])
    old = (frame["province"].astype(str) + "|" + frame["district"].astype(str)).to_numpy()
    assert [None if pd.isna(v) else v for v in old] == labels.tolist()
