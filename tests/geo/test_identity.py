"""CNIC and phone tokens: normalisation, keyed hashing, and the fast phone path = phonenumbers."""

from __future__ import annotations

import hashlib
import hmac
import random

import numpy as np
import phonenumbers
import pytest

from rahat.geo.registry.identity import (
    check_secret,
    cnic_province,
    cnic_tokens,
    normalise_cnic,
    normalise_phone,
    phone_tokens,
    tokens,
)

SECRET = b"k" * 32


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("42101-1234567-1", "4210112345671"),
        ("4210112345671", "4210112345671"),
        (" 42101 1234567 1 ", "4210112345671"),
        ("42101-1234567", None),  # 12 digits
        ("42101-1234567-12", None),  # 14 digits
        ("4210A-1234567-1", None),
        ("４２１０１１２３４５６７１", None),  # full-width digits are not ASCII
        ("1111111111111", None),  # one repeated digit: a placeholder
        (4210112345671, None),  # a number, not text: leading zeros would be lost
        (None, None),
    ],
)
def test_cnic_normalisation(text: object, digits: str | None) -> None:
    assert normalise_cnic(text) == digits


def test_tokens_are_the_first_64_bits_of_hmac_sha256() -> None:
    digest = hmac.new(SECRET, b"4210112345671", hashlib.sha256).digest()
    want = int.from_bytes(digest[:8], "big", signed=True)
    got, valid = cnic_tokens(["42101-1234567-1", "4210112345671", "bad", None], SECRET)
    assert got.dtype == np.int64 and got.tolist() == [want, want, 0, 0]
    assert valid.tolist() == [True, True, False, False]
    other, _ = cnic_tokens(["4210112345671"], b"x" * 32)
    assert other[0] != want  # another secret, another token


def test_a_short_secret_is_refused_without_showing_it() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes") as info:
        tokens(["1"], b"short-secret")
    assert "short-secret" not in str(info.value)
    assert check_secret(SECRET) == SECRET


def test_province_from_the_first_digit_is_a_soft_reading() -> None:
    assert cnic_province("42101-1234567-1") == "Sindh"
    assert cnic_province("35202-1234567-1") == "Punjab"
    assert cnic_province("92101-1234567-1") is None  # no province for 9
    assert cnic_province("bad") is None


@pytest.mark.parametrize(
    "text", ["03001234567", "+92 300 1234567", "0092-300-1234567", "923001234567", "0300-1234567"]
)
def test_one_mobile_number_written_five_ways(text: str) -> None:
    assert normalise_phone(text) == "+923001234567"


def test_the_fast_path_equals_phonenumbers_for_every_mobile_prefix() -> None:
    rng = random.Random(7)
    forms = ["0{n}", "+92{n}", "0092 {n}", "92{n}", "0{a}-{b}"]
    for prefix in range(300, 400):
        for _ in range(15):
            national = f"{prefix}{rng.randrange(10**7):07d}"
            text = rng.choice(forms).format(n=national, a=national[:3], b=national[3:])
            parsed = phonenumbers.parse(text, "PK")
            want = (
                phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
                if phonenumbers.is_valid_number(parsed)
                else None
            )
            assert normalise_phone(text) == want, text


def test_landlines_and_rubbish() -> None:
    assert normalise_phone("021 35123456") == "+922135123456"  # Karachi landline, by the library
    for text in ("12345", "not a phone", "", None, "0300123456"):
        assert normalise_phone(text) is None, text


def test_phone_tokens_match_across_forms_and_mark_invalid() -> None:
    got, valid = phone_tokens(["03001234567", "+923001234567", "x", None], SECRET)
    assert got[0] == got[1] != 0 and got[2] == got[3] == 0
    assert valid.tolist() == [True, True, False, False]
