"""Synthetic CNICs and mobile numbers for the demo population, and their tokens.

Every demo household gets a CNIC-like number and a Pakistani mobile number. The demo registry
and population carry only their tokens (``cnic_token``, ``phone_token``,
:mod:`rahat.geo.registry.identity`); the raw values go to a separate file,
:data:`IDENTITY_FILE` (``household_id,cnic,phone``), for tests and ``rahat bench claims``.

The numbers follow a **soft, synthetic** rule, close to how CNICs are commonly described but
not an official encoding:

* digit 1: the province (:data:`~rahat.geo.registry.identity.CNIC_PROVINCES` read backwards:
  1 Khyber Pakhtunkhwa, 3 Punjab, 4 Sindh, 5 Balochistan, 6 Islamabad, 7 Gilgit-Baltistan;
  8 for Azad Jammu & Kashmir, which that table does not name);
* digits 2-3: the district's number within its province (01, 02, ... in alphabetical order);
* digits 4-12: a serial, unique within the district (so every CNIC is unique);
* digit 13: even for a female head, odd for a male one.

Mobile numbers are ``03XX`` plus seven digits with a valid operator prefix, unique per household
except that about :data:`PHONE_REUSE` of households give the phone of a nearby household of
the same district (a relative's or a neighbour's phone, as in real registration data).

The draws use their own random stream (from the seed and :data:`_STREAM_TAG`), so every other
column of the demo is what it would be without them.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rahat.geo.files import atomic_write
from rahat.geo.registry import identity

if TYPE_CHECKING:
    import pandas as pd

#: File of the raw demo numbers (``household_id,cnic,phone``), next to the demo registry.
IDENTITY_FILE = "identity_demo.csv"

#: File of the random secret the demo used when :data:`~identity.SECRET_ENV` was not set.
SECRET_FILE = "identity_secret.hex"

#: Share of households that give another household's phone.
PHONE_REUSE = 0.02

#: First CNIC digit of each province of the demo (a soft, synthetic rule).
PROVINCE_DIGITS: dict[str, int] = {
    name: int(digit) for digit, name in reversed(identity.CNIC_PROVINCES.items())
} | {"Azad Jammu & Kashmir": 8}

_STREAM_TAG = 0x1DE7  # spawns the identity stream apart from every other draw
_SERIALS = 10**9  # digits 4-12
_SERIAL_STEP = 387_420_489  # 3**18: coprime to 10**9, so i -> step * i + offset is one-to-one
_PHONE_STEP = 2_654_435_761  # a prime: coprime to the phone space
_SUBSCRIBERS = 10**7
_MOBILE_PREFIXES = tuple(
    p for p in range(300, 350) if identity.normalise_phone(f"0{p}1234567") is not None
)


def _per_category(series: pd.Series, value: dict[str, int], default: int) -> np.ndarray:
    """``value`` of each row's category of a categorical ``series`` (``default`` if none)."""
    table = np.array([value.get(str(c), default) for c in series.cat.categories] + [default])
    return table[series.cat.codes.to_numpy()]  # code -1 (missing) takes the last entry


def district_numbers(district: pd.Series) -> np.ndarray:
    """Each household's district number within its province (1, 2, ... alphabetically).

    Numbers follow the plan of every real district (:mod:`.synth_plan`), not the districts a
    small demo happens to fill, so a district keeps its number at any size.
    """
    from rahat.geo.registry.synth_plan import _plan

    names: dict[str, list[str]] = {}
    for d in _plan().districts:  # district names are unique across provinces
        names.setdefault(d.province, []).append(d.name)
    number = {name: i + 1 for members in names.values() for i, name in enumerate(sorted(members))}
    return _per_category(district, number, 0)


def draw_identity(frame: pd.DataFrame, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw each household's CNIC (13 digits) and mobile number (``03XXXXXXXXX``).

    Parameters
    ----------
    frame
        Households from :func:`rahat.geo.registry.synth.synthesize` (``province``,
        ``district``, ``female_headed``), grouped by district.
    seed
        The demo's seed.

    Returns
    -------
    tuple of numpy.ndarray
        CNICs and national mobile numbers without the leading 0 (``3XXXXXXXXX``), as
        text, one per row of ``frame``.
    """
    n = len(frame)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _STREAM_TAG]))
    province = _per_category(frame["province"], PROVINCE_DIGITS, 9)
    district = district_numbers(frame["district"])
    within = frame.groupby(frame["district"].cat.codes).cumcount().to_numpy(np.int64)
    codes = frame["district"].cat.codes.to_numpy()
    offsets = rng.integers(0, _SERIALS, size=len(frame["district"].cat.categories) + 1)
    serial = (_SERIAL_STEP * within + offsets[codes]) % _SERIALS
    female = frame["female_headed"].to_numpy(bool)
    gender = 2 * rng.integers(0, 5, size=n) + np.where(female, 0, 1)
    cnic = province * 10**12 + (district % 100) * 10**10 + serial * 10 + gender
    placeholder = cnic % 1_111_111_111_111 == 0  # one repeated digit: not a valid CNIC
    cnic[placeholder] += np.where(gender[placeholder] == 9, -2, 2)  # keeps the parity

    space = len(_MOBILE_PREFIXES) * _SUBSCRIBERS
    slot = (_PHONE_STEP * np.arange(n, dtype=np.int64) + int(rng.integers(0, space))) % space
    prefixes = np.array(_MOBILE_PREFIXES, dtype=np.int64)
    phone = prefixes[slot // _SUBSCRIBERS] * _SUBSCRIBERS + slot % _SUBSCRIBERS
    rows = np.flatnonzero(rng.random(n) < PHONE_REUSE)
    donors = rows - 1 - rng.integers(0, 8, size=len(rows))
    usable = donors >= 0
    usable[usable] = codes[donors[usable]] == codes[rows[usable]]
    phone[rows[usable]] = phone[donors[usable]]
    return cnic.astype("U13"), phone.astype("U10")


def demo_secret(out: Path) -> bytes:
    """The secret the demo's tokens use.

    :data:`~rahat.geo.registry.identity.SECRET_ENV` when it is set; otherwise the secret
    kept in ``out/identity_secret.hex`` by an earlier demo in that folder, or a new random one
    written there (mode 0600). Either of the latter is said once on stderr, without the value.
    """
    if os.environ.get(identity.SECRET_ENV, "").strip():
        return identity.secret_from_env()
    path = out / SECRET_FILE
    try:
        secret = bytes.fromhex(path.read_text(encoding="ascii").strip())
        if len(secret) >= identity.MIN_SECRET_BYTES:
            print(
                f"rahat: {identity.SECRET_ENV} is not set: the demo's cnic/phone tokens use "
                f"the secret in {path}",
                file=sys.stderr,
            )
            return secret
    except (OSError, ValueError):
        pass
    secret = secrets.token_bytes(identity.MIN_SECRET_BYTES)

    def write(tmp: Path) -> None:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secret.hex() + "\n")

    atomic_write(path, write)
    print(
        f"rahat: {identity.SECRET_ENV} is not set: the demo's cnic/phone tokens use a new "
        f"random secret, kept in {path} (readable by you only)",
        file=sys.stderr,
    )
    return secret


def add_identity(frame: pd.DataFrame, seed: int, out: Path) -> Path:
    """Add ``cnic_token``/``phone_token`` to ``frame``; write the raw numbers to ``out``.

    Returns
    -------
    pathlib.Path
        The file of raw numbers, ``out/identity_demo.csv``.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    cnic, national = draw_identity(frame, seed)
    secret = demo_secret(out)
    # phones in the E.164 form normalise_phone gives them, without parsing each one
    both = identity.tokens(np.concatenate([cnic, np.char.add("+92", national)]), secret)
    frame["cnic_token"] = both[: len(cnic)]
    frame["phone_token"] = both[len(cnic) :]
    table = pa.table(
        {
            "household_id": frame["household_id"].to_numpy(),
            "cnic": cnic,
            "phone": np.char.add("0", national),
        }
    )
    options = pacsv.WriteOptions(quoting_style="none")
    return atomic_write(out / IDENTITY_FILE, lambda tmp: pacsv.write_csv(table, tmp, options))
