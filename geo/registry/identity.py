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
"""

from __future__ import annotations

import functools
import hmac
import re
from collections.abc import Iterable, Sequence

import numpy as np

#: Digits of a CNIC.
CNIC_DIGITS = 13

#: Fewest bytes of a deployment secret.
MIN_SECRET_BYTES = 32

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
    first 64 bits are 0 (one chance in 2**64) is given 1 instead.
    """
    key = check_secret(secret)
    out = []
    for value in values:
        if value is None:
            out.append(0)
            continue
        digest = hmac.digest(key, value.encode("ascii"), "sha256")
        out.append(int.from_bytes(digest[:8], "big", signed=True) or 1)
    return np.array(out, dtype=np.int64)


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
