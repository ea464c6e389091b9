"""Probable same households among unregistered claimants: exact groups on hand-made records,
the score thresholds at their boundaries, and the block-size paths giving the same groups."""

from __future__ import annotations

import numpy as np
import pytest
from rapidfuzz import fuzz

from rahat.engine.claims import duplicates
from rahat.engine.claims.duplicates import (
    ADDRESS_MIN_SCORE,
    NAME_MIN_SCORE,
    link_groups,
    normalise,
    number_codes,
)

ADDRESS = "House 12, Street 4, Mohalla Jadeed, Village Noorpur"


def groups(*records: tuple[int, int, str, str]) -> list[int]:
    """Group of each (block, phone, name, address) record."""
    block, phone, name, address = zip(*records, strict=True)
    found = link_groups(
        np.array(block),
        np.array(phone, dtype=np.int64),
        np.array(name, dtype=object),
        np.array(address, dtype=object),
        workers=1,
    )
    return found.group.tolist()


def test_typos_case_punctuation_and_word_order_group_in_one_tehsil() -> None:
    assert groups(
        (0, 0, "Ahmed Ali Khan", ADDRESS),
        (0, 0, "Ahmed Aly Khan", ADDRESS.replace("Jadeed", "Jadid")),  # one letter in each
        (0, 0, "KHAN, Ahmed-Ali", ADDRESS.upper().replace(",", " -")),
        (0, 0, "Bhmed Ali Khan", ADDRESS),  # a first letter: the sorted words move
        (0, 0, "Zainab Bibi", ADDRESS),  # another person at the address
    ) == [1, 1, 1, 1, -1]


def test_same_name_and_address_in_another_tehsil_or_without_one_is_not_grouped() -> None:
    assert groups(
        (0, 0, "Ahmed Ali Khan", ADDRESS),
        (1, 0, "Ahmed Ali Khan", ADDRESS),
        (-1, 7, "Ahmed Ali Khan", ADDRESS),
        (-1, 7, "Ahmed Ali Khan", ADDRESS),
    ) == [-1, -1, -1, -1]


def test_same_phone_groups_in_a_tehsil_and_no_phone_never_links() -> None:
    found = link_groups(
        np.array([0, 0, 1, 0, 0, 2]),
        np.array([5, 5, 5, 0, 0, 9], dtype=np.int64),
        np.array(["Ahmed", "Fatima", "Ahmed", "Usman", "Bilal", "Ahmed"], dtype=object),
        np.array(["a", "b", "c", "d", "e", "f"], dtype=object),
        workers=1,
    )
    assert found.group.tolist() == [1, 1, -1, -1, -1, -1]
    assert found.linked_by.tolist() == [duplicates.LINK_PHONE]


def test_different_people_and_different_house_numbers_are_not_grouped() -> None:
    assert (
        groups(
            (0, 1, "Ahmed Ali Khan", ADDRESS),
            (0, 2, "Bilal Usman Memon", ADDRESS),  # same address, another person
            (0, 3, "Ahmed Ali Khan", ADDRESS.replace("House 12", "House 13")),  # a neighbour
            (0, 4, "Ahmed Ali Khan", "Mohalla Sharqi, Village Kot"),  # another place
            (0, 5, "Ahmed Ali Khan", ""),  # no address: a name alone does not link
            (0, 6, "", ADDRESS),
        )
        == [-1] * 6
    )


def test_groups_are_numbered_by_first_row_and_say_how_they_are_linked() -> None:
    found = link_groups(
        np.array([2, 0, 0, 2, 0, 2]),
        np.array([0, 8, 8, 0, 0, 0], dtype=np.int64),
        np.array(
            ["Zeb Bibi", "Ali Raza", "Ali Raza", "Zeb Bibi", "Ali Raza", "Sana"], dtype=object
        ),
        np.array(["Kot", "Goth", "Goth", "Kot", "Goth", "Kot"], dtype=object),
        workers=1,
    )
    assert found.group.tolist() == [1, 2, 2, 1, 2, -1]
    assert found.linked_by.tolist() == [
        duplicates.LINK_NAME_ADDRESS,
        duplicates.LINK_PHONE | duplicates.LINK_NAME_ADDRESS,
    ]
    assert found.summary() == {
        "groups": 2,
        "claims": 5,
        "linked_by": {"phone": 0, "name+address": 1, "phone;name+address": 1},
    }
    table = found.table(np.arange(1, 7), np.array(["T2", "T0", "T0", "T2", "T0", "T2"]))
    assert table.to_dict("records") == [
        {"group": 1, "tehsil": "T2", "size": 2, "rows": "1;4", "linked_by": "name+address"},
        {"group": 2, "tehsil": "T0", "size": 3, "rows": "2;3;5", "linked_by": "phone;name+address"},
    ]


def test_name_threshold_is_inclusive_at_its_boundary() -> None:
    assert fuzz.ratio("abcdefghij", "abcdefghix") == NAME_MIN_SCORE == 90
    assert fuzz.ratio("abcdefghi", "abcdefghx") < NAME_MIN_SCORE
    assert groups((0, 0, "abcdefghij", "kot"), (0, 0, "abcdefghix", "kot")) == [1, 1]
    assert groups((0, 0, "abcdefghi", "kot"), (0, 0, "abcdefghx", "kot")) == [-1, -1]


def test_address_threshold_is_inclusive_at_its_boundary() -> None:
    home = "abcdefghijklmnopqrst"
    near, far = "xbcdefghijxlmnopqrsx", "xbcdexghijxlmnopqrsx"
    assert fuzz.ratio(home, near) == ADDRESS_MIN_SCORE == 85
    assert fuzz.ratio(home, far) < ADDRESS_MIN_SCORE
    assert groups((0, 0, "Ali Raza", home), (0, 0, "Ali Raza", near)) == [1, 1]
    assert groups((0, 0, "Ali Raza", home), (0, 0, "Ali Raza", far)) == [-1, -1]


def test_normalised_forms_and_number_codes() -> None:
    written, words = normalise(np.array(["Khan,  AHMED_ali", None, "  "], dtype=object))
    assert written.tolist() == ["khan ahmed ali", "", ""]
    assert words.tolist() == ["ahmed ali khan", "", ""]
    codes = number_codes(np.array(["12 4 house", "12 4 hous", "12 5 house", "house"]))
    assert codes[0] == codes[1] and len(set(codes[1:].tolist())) == 3


def many_records(rng: np.random.Generator, n: int = 60) -> tuple[np.ndarray, ...]:
    """``n`` records in three tehsils: pairs with a typo (last or first letter), strangers."""
    given = np.array(["Ahmed", "Bilal", "Usman", "Zainab", "Sana", "Imran", "Hina", "Tariq"])
    family = np.array(["Khan", "Memon", "Soomro", "Baloch", "Shah"])
    name = [f"{rng.choice(given)} {rng.choice(given)} {rng.choice(family)}" for _ in range(n)]
    address = [f"Mohalla {rng.choice(family)}, Village {rng.choice(given)}" for _ in range(n)]
    for i in range(0, n, 4):  # every fourth record is repeated with a typo by the next
        name[i + 1] = name[i][:-1] + "x" if i % 8 else "X" + name[i][1:]
        address[i + 1] = address[i]
    block = np.digitize(np.arange(n), [n // 4, n // 4 + n // 3])  # three tehsils, unequal
    return block, np.zeros(n, dtype=np.int64), np.array(name, object), np.array(address, object)


@pytest.mark.parametrize(
    ("small", "largest", "batch"),
    [(1, 4, 1 << 20), (1, 6, 1 << 20), (1000, 4096, 1 << 20), (1, 4096, 1), (32, 4096, 1)],
)
def test_block_paths_give_the_same_groups(
    monkeypatch: pytest.MonkeyPatch, small: int, largest: int, batch: int
) -> None:
    records = many_records(np.random.default_rng(3))
    expected = link_groups(*records, workers=1).group
    assert (expected > 0).sum() >= 30  # the typo pairs, at least
    monkeypatch.setattr(duplicates, "SMALL_BLOCK", small)
    monkeypatch.setattr(duplicates, "MAX_BLOCK", largest)
    monkeypatch.setattr(duplicates, "PAIR_BATCH", batch)
    assert link_groups(*records, workers=1).group.tolist() == expected.tolist()


def test_house_and_street_numbers_swapped_are_another_address() -> None:
    # the numbers compare in the order written: the sorted words would put 12 before 3
    assert groups(
        (0, 0, "Ahmed Ali Khan", "House 3, Street 12, Mohalla Jadeed"),
        (0, 0, "Ahmed Ali Khan", "House 12, Street 3, Mohalla Jadeed"),
        (0, 0, "Ahmed Ali Khan", "house 3 street 12 mohalla jadeed"),
    ) == [1, -1, 1]
