"""Identity without raw numbers: keyed tokens of CNICs and phone numbers.

Rahat never stores or writes a raw CNIC or phone number. Each is normalised and replaced by a
*token*: the first 64 bits of HMAC-SHA-256 under a deployment secret, as a signed 64-bit
integer (so it fits an int64 column and sorts for ``np.searchsorted``). Without the secret a
token cannot be turned back into a number, and the same number gives the same token across
files, so a claim can be matched to the registry by its token alone.

* **CNIC**: 13 digits, written with or without the dashes (``12345-1234567-1``). Anything else
  (letters, 12 or 14 digits, a number of one repeated digit) is invalid and gets no token.
  :func:`cnic_province` reads the province from the first digit as it is commonly described
  (1 Khyber Pakhtunkhwa, 2 former FATA, 3 Punjab, 4 Sindh, 5 Balochistan, 6 Islamabad, 7
  Gilgit-Baltistan): a *soft* check, to flag a claim whose stated place disagrees, never to
  refuse one.
* **Phone**: normalised to E.164 for region PK (``03001234567``, ``+92 300 1234567`` and
  ``0092-300-1234567`` are one number), with the ``phonenumbers`` library; the common mobile
  forms take a fast path that gives the same answer (tested against the library), so a
  national stream of claims is normalised in seconds.

A registry file may carry the raw numbers in ``cnic`` and ``phone`` columns:
:func:`tokenise_table` replaces them with ``cnic_token`` and ``phone_token`` under the secret
from :data:`SECRET_ENV` (:func:`secret_from_env`, the one place it is read) before anything is
validated or written, so no raw number reaches a snapshot, a rejects file or a message.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from rahat.geo.errors import InputError, SchemaError

if TYPE_CHECKING:
    import pyarrow as pa

#: Digits of a CNIC.
CNIC_DIGITS = 13

#: Fewest bytes of a deployment secret.
MIN_SECRET_BYTES = 32

#: Fewest values :func:`tokens_many` splits across processes (a pool costs about 0.3 s).
POOL_MIN_VALUES = 500_000

#: Most processes :func:`tokens_many` starts.
POOL_WORKERS = 8

#: Environment variable holding the deployment secret, as hex text.
SECRET_ENV = "RAHAT_IDENTITY_SECRET"

#: Raw identity columns a registry file may carry, and the token column each becomes.
TOKEN_COLUMNS: dict[str, str] = {"cnic": "cnic_token", "phone": "phone_token"}

#: Province by the first digit of a CNIC, as commonly described (a soft check).
CNIC_PROVINCES: dict[str, str] = {
    "1": "Khyber Pakhtunkhwa",
    "2": "Khyber Pakhtunkhwa",  # former FATA, merged in 2018
    "3": "Punjab",
    "4": "Sindh",
    "5": "Balochistan",
    "6": "Islamabad Capital Territory",
    "7": "Gilgit-Baltistan",
}

_SEPARATORS = re.compile(r"[\s\-]")
_MOBILE = re.compile(r"^(?:\+92|0092|92|0)(3\d{9})$")


def check_secret(secret: bytes) -> bytes:
    """Return ``secret`` if it is long enough to key the tokens; raise ``ValueError`` if not.

    The message never shows the secret.
    """
    if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
        raise ValueError(
            f"the identity secret must be at least {MIN_SECRET_BYTES} bytes (set "
            "RAHAT_IDENTITY_SECRET to a long random value)"
        )
    return secret


def tokens(values: Iterable[str | None], secret: bytes) -> np.ndarray:
    """HMAC-SHA-256 of each normalised value under ``secret``, first 64 bits, as int64.

    ``None`` (an invalid value) gets token 0, which no valid value is given: a value whose
    first 64 bits are 0 (one chance in 2**64) is given 1 instead. The key's inner and outer
    hash states are computed once (RFC 2104), which halves the cost of :func:`hmac.digest`
    per value.
    """
    inner, outer = _keyed_states(check_secret(secret))
    if isinstance(values, np.ndarray):
        values = values.tolist()  # Python strings iterate faster than NumPy scalars
    new_inner, new_outer = inner.copy, outer.copy
    digests: list[bytes] = []
    missing: list[int] = []
    for i, value in enumerate(values):
        if value is None:
            missing.append(i)
            digests.append(bytes(8))
            continue
        state = new_inner()
        state.update(value.encode("ascii"))
        final = new_outer()
        final.update(state.digest())
        digests.append(final.digest()[:8])
    out = np.frombuffer(b"".join(digests), dtype=">i8").astype(np.int64)
    out[out == 0] = 1
    out[missing] = 0
    return out


def tokens_many(values: np.ndarray, secret: bytes, *, workers: int | None = None) -> np.ndarray:
    """:func:`tokens` of many values, split across a small process pool when it pays.

    Parameters
    ----------
    values
        Normalised values (``None`` for invalid ones).
    secret
        The deployment secret (sent to the workers through a pipe, never written).
    workers
        Processes to use (default: the CPUs, at most :data:`POOL_WORKERS`); below
        :data:`POOL_MIN_VALUES` values, or with one worker, no pool is started.
    """
    key = check_secret(secret)
    if workers is None:
        workers = min(POOL_WORKERS, os.cpu_count() or 1)
    if workers < 2 or len(values) < POOL_MIN_VALUES:
        return tokens(values, key)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    chunks = np.array_split(np.asarray(values), workers)
    # spawn, not fork: a process with threads (a server) must never fork
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        parts = list(pool.map(tokens, chunks, [key] * len(chunks)))
    return np.concatenate(parts)


def _keyed_states(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """SHA-256 states after the HMAC inner and outer key blocks (RFC 2104)."""
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    return (
        hashlib.sha256(bytes(b ^ 0x36 for b in key)),
        hashlib.sha256(bytes(b ^ 0x5C for b in key)),
    )


def normalise_cnic(value: object) -> str | None:
    """The 13 digits of a CNIC written with or without dashes and spaces, else ``None``."""
    if not isinstance(value, str):
        return None
    digits = _SEPARATORS.sub("", value.strip())
    if len(digits) != CNIC_DIGITS or not digits.isascii() or not digits.isdigit():
        return None
    if len(set(digits)) == 1:
        return None  # 0000000000000 and the like: placeholders, not numbers
    return digits


def cnic_tokens(values: Sequence[object], secret: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Tokens of CNICs (0 where invalid) and whether each was valid."""
    normal = [normalise_cnic(v) for v in values]
    return tokens(normal, secret), np.array([n is not None for n in normal], dtype=bool)


def cnic_province(value: object) -> str | None:
    """The province a CNIC's first digit points to (a soft check), or ``None``."""
    digits = normalise_cnic(value)
    return None if digits is None else CNIC_PROVINCES.get(digits[0])


def normalise_phone(value: object) -> str | None:
    """The E.164 form of a Pakistani phone number (``+923001234567``), else ``None``.

    Mobile numbers in their usual forms are read directly; any other text goes to
    ``phonenumbers`` (region PK) and is kept only if the library finds it a valid number.
    """
    if not isinstance(value, str):
        return None
    compact = re.sub(r"[\s\-().]", "", value.strip())
    fast = _MOBILE.match(compact)
    if fast:
        national = fast.group(1)
        return "+92" + national if _mobile_prefix_valid(national[:3]) else None
    import phonenumbers

    try:
        number = phonenumbers.parse(value, "PK")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


@functools.cache
def _mobile_prefix_valid(prefix: str) -> bool:
    """Whether ``phonenumbers`` finds PK mobile numbers starting ``prefix`` (``3xx``) valid.

    For a 10-digit national number starting with 3, the library's PK mobile pattern decides
    validity on the first three digits (the tests compare the fast path with the library).
    """
    import phonenumbers

    return bool(phonenumbers.is_valid_number(phonenumbers.parse("0" + prefix + "1234567", "PK")))


def phone_tokens(values: Sequence[object], secret: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Tokens of phone numbers (0 where invalid) and whether each was valid.

    Each distinct text is normalised once (claims repeat phones).
    """
    texts = [v if isinstance(v, str) else None for v in values]
    distinct = {t: normalise_phone(t) for t in set(texts) if t is not None}
    normal = [None if t is None else distinct[t] for t in texts]
    return tokens(normal, secret), np.array([n is not None for n in normal], dtype=bool)


def secret_from_env() -> bytes:
    """The deployment secret: :data:`SECRET_ENV` as hex, at least ``2 * MIN_SECRET_BYTES`` digits.

    Raises
    ------
    InputError
        If the variable is unset, not hex or too short. The message never shows its value.
    """
    text = os.environ.get(SECRET_ENV, "").strip()
    advice = (
        f"set {SECRET_ENV} to at least {2 * MIN_SECRET_BYTES} hex characters, the same secret "
        "for every file of this deployment (for example the output of `python -c "
        '"import secrets; print(secrets.token_hex(32))"`)'
    )
    if not text:
        raise InputError(f"{SECRET_ENV} is not set; {advice}")
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise InputError(f"{SECRET_ENV} is not hex text; {advice}") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise InputError(f"{SECRET_ENV} is too short; {advice}")
    return secret


def _texts(column: pa.ChunkedArray) -> list[str | None]:
    """The values of a raw identity column as text (numbers as their digits), nulls as None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        if not pa.types.is_integer(column.type):
            return [None] * len(column)  # floats, dates...: no exact digits to read
        column = pc.cast(column, pa.string())
    return column.to_pylist()


def tokenise_table(table: pa.Table, source: str | None = None) -> pa.Table:
    """Replace raw ``cnic``/``phone`` columns with ``cnic_token``/``phone_token`` columns.

    A value that is not a valid CNIC or phone number gets token 0 (the row is kept: a
    household is not refused for a bad number). A table without raw columns is returned as it
    is, and the secret is then not needed.

    Parameters
    ----------
    table
        A registry table as read (:func:`rahat.geo.registry.io.read_table`).
    source
        Name of the input, for messages.

    Raises
    ------
    SchemaError
        If a table gives both a raw column and its token column.
    InputError
        If a raw column is present and the secret is missing or short (:func:`secret_from_env`).
    """
    import pyarrow as pa

    raw = [name for name in TOKEN_COLUMNS if name in table.column_names]
    if not raw:
        return table
    both = [name for name in raw if TOKEN_COLUMNS[name] in table.column_names]
    if both:
        raise SchemaError(
            f"column(s) {', '.join(both)} given with their token column(s); give either the "
            "raw numbers or the tokens",
            source=source,
        )
    try:
        secret = secret_from_env()
    except InputError as exc:
        raise InputError(
            f"the file has raw {' and '.join(raw)} column(s), which Rahat stores only as "
            f"tokens: {exc.detail}",
            source=source,
        ) from None
    draw = {"cnic": cnic_tokens, "phone": phone_tokens}
    for name in raw:
        values, _ = draw[name](_texts(table.column(name)), secret)
        table = table.drop_columns([name]).append_column(TOKEN_COLUMNS[name], pa.array(values))
    return table
