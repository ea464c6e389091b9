"""The identity kernels equal :mod:`hmac` and the Python normalising rules, with zero tolerance.

Fuzzed texts mix digits, every separator, ASCII whitespace (including the ``\\x1c``-``\\x1f``
group separators Python counts as space), letters, Unicode spaces and digits, and the forms of
mobile numbers, so each branch of :func:`~rahat.geo.registry.identity_kernel.cnic_kernel` and
:func:`~rahat.geo.registry.identity_kernel.mobile_kernel` is met. Also run without numba
(``test_kernels_without_jit.py``).
"""

from __future__ import annotations

import hmac

import numpy as np
import pyarrow as pa
import pytest

from rahat.geo.registry import identity
from rahat.geo.registry.identity import (
    cnic_tokens,
    normalise_cnic,
    normalise_phone,
    phone_tokens,
    tokens,
)

SECRET = bytes(range(40))
LONG_SECRET = bytes(range(100))  # over one block: hashed first (RFC 2104)
ALPHABET = list("0123456789") * 4 + list("-  \t\n\x0b\x0c\x1c\x1f+().a/") + ["\u00a0", "\u0663"]


def reference(value: str | None, key: bytes = SECRET) -> int:
    """The token by :mod:`hmac`: 0 for no value, 1 for a digest whose 64 bits are 0."""
    if value is None:
        return 0
    token = int.from_bytes(hmac.digest(key, value.encode(), "sha256")[:8], "big", signed=True)
    return token or 1


def fuzz(rng: np.random.Generator, n: int) -> list[str]:
    texts = []
    for _ in range(n):
        size = int(rng.integers(0, 20))
        texts.append("".join(rng.choice(ALPHABET, size)))
    return texts


def shaped(rng: np.random.Generator, n: int) -> list[str]:
    """CNIC- and mobile-shaped texts with one thing at a time wrong."""
    out = []
    for _ in range(n):
        digits = "".join(rng.choice(list("0123456789"), 13))
        mobile = "3" + "".join(rng.choice(list("0123456789"), 9))
        lead = str(rng.choice(["+92", "0092", "92", "0", "", "+920", "00"]))
        sep = str(rng.choice(["", "-", " ", "\t", "(", ")", ".", "\u00a0"]))
        out += [
            f"{digits[:5]}{sep}{digits[5:12]}{sep}{digits[12]}",
            lead + sep + mobile[:3] + sep + mobile[3:],
            lead + mobile[: int(rng.integers(8, 11))],
            digits[: int(rng.integers(11, 15))],
        ]
    return out


@pytest.mark.parametrize("key", [SECRET, LONG_SECRET])
@pytest.mark.parametrize("size", [0, 1, 12, 13, 54, 55, 56, 64, 119, 120, 300])
def test_tokens_equal_hmac_at_every_block_boundary(key: bytes, size: int) -> None:
    values = ["7" * size, "x" * size, None]
    assert tokens(values, key).tolist() == [reference(v, key) for v in values[:2]] + [0]


def test_tokens_of_a_sliced_arrow_array_read_its_own_values() -> None:
    values = pa.array(["a", "bb", "ccc", None, "dddd"], type=pa.large_string()).slice(1, 3)
    assert tokens(values, SECRET).tolist() == [reference("bb"), reference("ccc"), 0]


def test_a_zero_token_becomes_one_and_an_invalid_value_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rahat.geo.registry import identity_kernel

    def zeros(data, offsets, inner, outer, out):  # type: ignore[no-untyped-def]
        out[:] = 0

    monkeypatch.setattr(identity_kernel, "hmac_kernel", zeros)
    assert tokens(["1", None], SECRET).tolist() == [1, 0]


@pytest.mark.parametrize("seed", [1, 2])
def test_cnic_tokens_equal_the_python_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    texts: list[object] = [*fuzz(rng, 1500), *shaped(rng, 400), None, 4210112345671, "1" * 13]
    got, valid = cnic_tokens(texts, SECRET)
    normal = [normalise_cnic(t) for t in texts]
    assert valid.tolist() == [n is not None for n in normal]
    assert got.tolist() == [reference(n) for n in normal]
    assert 100 < valid.sum() < len(texts) - 100  # both kinds met


@pytest.mark.parametrize("seed", [3, 4])
def test_phone_tokens_equal_the_python_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    texts: list[object] = [*fuzz(rng, 600), *shaped(rng, 300), None, "", "021-35123456"]
    got, valid = phone_tokens(texts, SECRET)
    normal = [normalise_phone(t) for t in texts]
    assert valid.tolist() == [n is not None for n in normal]
    assert got.tolist() == [reference(n) for n in normal]
    assert 100 < valid.sum() < len(texts) - 100


def test_every_mobile_prefix_and_form_equals_the_library() -> None:
    forms = ("0{}", "+92{}", "0092{}", "92{}", "+92 {}", "(0){}", "0{}\n")
    texts = [form.format(f"3{d:02d}4567890") for d in range(100) for form in forms]
    got, valid = phone_tokens(texts, SECRET)
    normal = [normalise_phone(t) for t in texts]
    assert valid.tolist() == [n is not None for n in normal]
    assert got.tolist() == [reference(n) for n in normal]
    assert 0 < valid.sum() < len(texts)  # some prefixes are not mobile ones


def test_lone_surrogates_are_no_number() -> None:
    got, valid = cnic_tokens(["\ud800" + "4" * 13, "4210112345671"], SECRET)
    assert valid.tolist() == [False, True]
    assert got[0] == 0


def test_a_registry_column_of_integers_reads_as_digits() -> None:
    column = pa.chunked_array([pa.array([4210112345671, None], type=pa.int64())])
    got, valid = cnic_tokens(identity._texts(column), SECRET)
    assert valid.tolist() == [True, False]
    assert got[0] == reference("4210112345671")


def _statuses(kernel_name: str, texts: list[str]) -> list[int]:
    """The kernel's own status of each text (before any Python fallback)."""
    from rahat.geo.registry import identity_kernel as k

    data, offsets, present = identity._buffers(identity._string_array(texts))
    inner, outer = k.keyed_states(SECRET)
    out = np.zeros(len(texts), dtype=np.uint64)
    status = np.zeros(len(texts), dtype=np.int8)
    table = identity._mobile_prefix_table()
    with np.errstate(over="ignore"):  # the sums wrap by design (plain Python would warn)
        if kernel_name == "cnic":
            k.cnic_kernel(data, offsets, present, k.CNIC_SEPARATORS, inner, outer, out, status)
        else:
            separators = k.PHONE_SEPARATORS
            k.mobile_kernel(data, offsets, present, separators, table, inner, outer, out, status)
    return status.tolist()


def test_the_kernels_decide_the_usual_forms_themselves() -> None:
    # a fallback gives the same answer slowly, so equality alone cannot see a lost fast path
    from rahat.geo.registry.identity_kernel import FALLBACK, INVALID, VALID

    mobiles = ["03001234567", "+923001234567", "00923001234567", "923001234567", "0300-123 4567"]
    assert _statuses("phone", mobiles) == [VALID] * 5
    assert _statuses("phone", ["03991234567", ""]) == [INVALID] * 2
    assert _statuses("phone", ["021-35123456", "0300123456", "\u0663"]) == [FALLBACK] * 3
    cnics = ["42101-1234567-1", "4210112345671", "1111111111111", "42101-123456-1", "4210a"]
    assert _statuses("cnic", cnics) == [VALID, VALID, INVALID, INVALID, INVALID]
    assert _statuses("cnic", ["42101\u00a01234567-1"]) == [FALLBACK]


def test_a_pandas_column_of_any_kind_reads_like_a_list() -> None:
    import pandas as pd

    texts = ["42101-1234567-1", "", "x", "35202 1234567 3"]
    expected = cnic_tokens(texts, SECRET)[0].tolist()
    for column in (pd.Series(texts, dtype=str), pd.Series(texts, dtype=object)):
        assert cnic_tokens(column, SECRET)[0].tolist() == expected
    mixed = pd.Series([*texts, 4210112345671, None], dtype=object)  # not all text
    assert cnic_tokens(mixed, SECRET)[0].tolist() == [*expected, 0, 0]
