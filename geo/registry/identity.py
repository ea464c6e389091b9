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
import os
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np

from rahat.geo.errors import InputError, SchemaError
from rahat.geo.registry import identity_kernel

if TYPE_CHECKING:
    import pyarrow as pa

#: Digits of a CNIC.
CNIC_DIGITS = 13

#: Fewest bytes of a deployment secret.
MIN_SECRET_BYTES = 32

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


def _wrapping() -> np.errstate:
    """NumPy's overflow warnings off: SHA-256 sums wrap at 32 bits by design.

    Only the kernels' plain-Python form (``NUMBA_DISABLE_JIT=1``) would warn.
    """
    return np.errstate(over="ignore")


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


def tokens(values: Iterable[object], secret: bytes) -> np.ndarray:
    """HMAC-SHA-256 of each normalised value under ``secret``, first 64 bits, as int64.

    ``None`` (an invalid value) gets token 0, which no valid value is given: a value whose
    first 64 bits are 0 (one chance in 2**64) is given 1 instead. Values of up to 55 bytes
    (every CNIC and mobile number) are hashed by
    :func:`~rahat.geo.registry.identity_kernel.hmac_kernel` in parallel, longer ones by
    :mod:`hmac`.
    """
    key = check_secret(secret)
    texts = _string_array(values)
    data, offsets, present = _buffers(texts)
    out = np.zeros(len(texts), dtype=np.uint64)
    short = present & (np.diff(offsets) <= identity_kernel.MAX_ONE_BLOCK)
    inner, outer = identity_kernel.keyed_states(key)
    if short.all():
        with _wrapping():
            identity_kernel.hmac_kernel(data, offsets, inner, outer, out)
    else:
        rows = np.flatnonzero(short)
        part = np.zeros(len(rows), dtype=np.uint64)
        with _wrapping():
            identity_kernel.hmac_kernel(*_take(data, offsets, rows), inner, outer, part)
        out[rows] = part
        long_rows = np.flatnonzero(present & ~short)
        out[long_rows] = _hmac_tokens(texts.take(long_rows).to_pylist(), key)
    return _finish(out, present)


def _hmac_tokens(values: list[str], key: bytes) -> np.ndarray:
    """First 64 bits of HMAC-SHA-256 of each value, by :mod:`hmac` (values over one block)."""
    import hmac

    digests = [hmac.digest(key, v.encode("utf-8"), "sha256")[:8] for v in values]
    return np.frombuffer(b"".join(digests), dtype=">u8").astype(np.uint64)


def _finish(out: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Tokens as int64: 0 where not valid, and 1 for a valid value whose 64 bits are 0."""
    signed = out.view(np.int64)
    signed[valid & (signed == 0)] = 1
    signed[~valid] = 0
    return signed


def _string_array(values: Iterable[object]) -> pa.Array:
    """``values`` as an Arrow large-string array, null where a value is not text."""
    import pyarrow as pa

    values = getattr(values, "array", values)  # a pandas column: its array
    if hasattr(values, "__arrow_array__"):  # Arrow strings (pandas 3), no copy
        try:
            values = pa.array(values, type=pa.large_string())
        except (UnicodeEncodeError, pa.ArrowException):
            values = list(values)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values.cast(pa.large_string())
    if isinstance(values, np.ndarray):
        values = values.tolist()  # Python strings convert faster than NumPy scalars
    texts = [v if isinstance(v, str) else None for v in values]
    try:
        return pa.array(texts, type=pa.large_string())
    except (UnicodeEncodeError, pa.ArrowException):  # lone surrogates: no number
        return pa.array([_utf8_or_none(t) for t in texts], type=pa.large_string())


def _utf8_or_none(text: str | None) -> str | None:
    """``text`` if it can be written as UTF-8, else ``None``."""
    try:
        return None if text is None else text.encode("utf-8").decode("utf-8")
    except UnicodeEncodeError:
        return None


def _buffers(texts: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bytes, the ``n + 1`` offsets and the presence of a large-string array's values."""
    _, offset_buffer, data_buffer = texts.buffers()
    first = texts.offset
    offsets = np.frombuffer(offset_buffer, dtype=np.int64)[first : first + len(texts) + 1]
    data = (
        np.zeros(0, dtype=np.uint8)
        if data_buffer is None
        else np.frombuffer(data_buffer, dtype=np.uint8)
    )
    present = texts.is_valid().to_numpy(zero_copy_only=False)
    return data, np.ascontiguousarray(offsets), present


def _take(data: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The bytes and offsets of the values at ``rows`` only, packed."""
    starts = offsets[rows]
    lengths = offsets[rows + 1] - starts
    packed = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=packed[1:])
    index = np.repeat(starts - packed[:-1], lengths) + np.arange(packed[-1])
    return data[index], packed


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


def cnic_tokens(values: Iterable[object], secret: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Tokens of CNICs (0 where invalid) and whether each was valid.

    Normalised and hashed in one pass by
    :func:`~rahat.geo.registry.identity_kernel.cnic_kernel`, which equals
    :func:`normalise_cnic` on ASCII text; a value with other text is read by
    :func:`normalise_cnic` itself.
    """
    rules = (identity_kernel.CNIC_SEPARATORS,)
    return _normalised_tokens(values, secret, identity_kernel.cnic_kernel, rules, normalise_cnic)


def _normalised_tokens(
    values: Iterable[object],
    secret: bytes,
    kernel: Callable[..., None],
    rules: tuple[np.ndarray, ...],
    normalise: Callable[[object], str | None],
) -> tuple[np.ndarray, np.ndarray]:
    """Tokens and validity of ``values`` by a normalising ``kernel`` and its ``rules`` tables.

    The values the kernel leaves to Python (:data:`~identity_kernel.FALLBACK`) are read by
    ``normalise``, each distinct text once (claims repeat phones).
    """
    key = check_secret(secret)
    texts = _string_array(values)
    data, offsets, present = _buffers(texts)
    inner, outer = identity_kernel.keyed_states(key)
    out = np.zeros(len(texts), dtype=np.uint64)
    status = np.zeros(len(texts), dtype=np.int8)
    with _wrapping():
        kernel(data, offsets, present, *rules, inner, outer, out, status)
    valid = status == identity_kernel.VALID
    rows = np.flatnonzero(status == identity_kernel.FALLBACK)
    if len(rows):
        fallback = texts.take(rows).to_pylist()
        distinct = {text: normalise(text) for text in set(fallback)}
        normal = [distinct[text] for text in fallback]
        out[rows] = tokens(normal, key).view(np.uint64)
        valid[rows] = [n is not None for n in normal]
    return _finish(out, valid), valid


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


def phone_tokens(values: Iterable[object], secret: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Tokens of phone numbers (0 where invalid) and whether each was valid.

    Mobile numbers in their usual forms are normalised and hashed in one pass by
    :func:`~rahat.geo.registry.identity_kernel.mobile_kernel`, which equals
    :func:`normalise_phone` on them; any other text is read by :func:`normalise_phone`
    itself, each distinct text once.
    """
    rules = (identity_kernel.PHONE_SEPARATORS, _mobile_prefix_table())
    return _normalised_tokens(values, secret, identity_kernel.mobile_kernel, rules, normalise_phone)


@functools.cache
def _mobile_prefix_table() -> np.ndarray:
    """Whether each mobile prefix ``300`` ... ``399`` is valid, indexed by its last two digits."""
    return np.array([_mobile_prefix_valid(f"3{d:02d}") for d in range(100)], dtype=bool)


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


def _texts(column: pa.ChunkedArray) -> pa.Array:
    """A raw identity column as text (numbers as their digits); other types all null."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        if not pa.types.is_integer(column.type):
            return pa.nulls(len(column), pa.large_string())  # floats, dates: no exact digits
        column = pc.cast(column, pa.string())
    return column.combine_chunks().cast(pa.large_string())


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
