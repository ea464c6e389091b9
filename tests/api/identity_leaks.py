"""Search bytes, files, responses and a database for raw CNICs, phone numbers and a secret.

Helpers of ``test_e2e_identity_privacy.py``. A number is found in any form: with or without
dashes or spaces, a CNIC's 13 digits anywhere in a run of digits, a phone as a whole run
(``0``, ``92`` or ``0092`` before its national ``3xxxxxxxxx``), either as a little- or
big-endian 64-bit integer; Parquet and Arrow files are also decoded, archives unpacked.
"""

from __future__ import annotations

import gzip
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def national(phone: str) -> str:
    """``3xxxxxxxxx`` of a Pakistani mobile number in any usual form."""
    match = re.fullmatch(r"(?:0092|92|0)?(3\d{9})", digits(phone))
    assert match, phone
    return match.group(1)


@dataclass
class Needles:
    """What must appear nowhere: digit strings, whole phone numbers, integers, exact bytes."""

    #: Digit strings found anywhere inside a run of digits (CNICs, malformed numbers).
    anywhere: set[str] = field(default_factory=set)
    #: National ``3xxxxxxxxx`` of phones, found as a whole run (``0``/``92``/``0092`` before).
    phones: set[str] = field(default_factory=set)
    #: Exact byte strings (the secret as hex, its raw bytes).
    exact: set[bytes] = field(default_factory=set)

    def add_cnic(self, cnic: str) -> None:
        self.anywhere.add(digits(cnic))

    def add_phone(self, phone: str) -> None:
        self.phones.add(national(phone))

    def integers(self) -> np.ndarray:
        """The numbers as 64-bit integers (a CNIC or phone stored as a number)."""
        values = {int(a) for a in self.anywhere if len(a) >= 9}
        values |= {int(p) for p in self.phones} | {int("92" + p) for p in self.phones}
        return np.array(sorted(values), dtype=np.int64)


def needles_of(
    secret_hex: str, cnics: list[str], phones: list[str], other: tuple[str, ...] = ()
) -> Needles:
    """The secret, ``cnics`` and ``phones`` (any form) and ``other`` digit strings."""
    needles = Needles(exact={secret_hex.encode(), secret_hex.upper().encode()})
    needles.exact.add(bytes.fromhex(secret_hex))
    for cnic in cnics:
        needles.add_cnic(cnic)
    for phone in phones:
        needles.add_phone(phone)
    needles.anywhere |= {digits(o) for o in other}
    return needles


#: Digits split only by a dash or a space ("41304-7182936-1", "+92 300 7182936").
_SPLIT = re.compile(rb"(?<=\d)[- ](?=\d)")
_RUN = re.compile(rb"\d{9,}")
_PHONE_RUN = re.compile(r"(?:0092|92|0)?(3\d{9})")


def leaks(data: bytes, needles: Needles) -> set[str]:
    """The needles found in ``data`` (text runs of digits, binary int64 and exact bytes)."""
    found = {n.decode(errors="replace")[:12] + "..." for n in needles.exact if n in data}
    sizes = {len(n) for n in needles.anywhere}
    runs = {
        m.group().decode() for text in (data, _SPLIT.sub(b"", data)) for m in _RUN.finditer(text)
    }
    for run in runs:
        for size in sizes:
            found |= {run[i : i + size] for i in range(len(run) - size + 1)} & needles.anywhere
        match = _PHONE_RUN.fullmatch(run)
        if match and match.group(1) in needles.phones:
            found.add(match.group(1))
    values = needles.integers()
    raw = np.frombuffer(data, np.uint8)
    for offset in range(8):
        n = (len(raw) - offset) // 8
        if n <= 0:
            break
        words = raw[offset : offset + 8 * n].view("<i8")
        for view in (words, words.byteswap()):
            hits = np.isin(view, values)
            if hits.any():
                found |= {f"int64 {v}" for v in view[hits]}
    return found


def decoded(path: Path, data: bytes) -> Iterator[bytes]:
    """Readable forms of a file beside its bytes: Parquet/Arrow as CSV, archives unpacked."""
    if data[:4] == b"PAR1":
        yield pq.read_table(path).to_pandas().to_csv().encode()
    elif data[:6] == b"ARROW1" or path.suffix in (".arrow", ".feather"):
        try:
            table = pa.ipc.open_file(pa.BufferReader(data)).read_all()
        except pa.ArrowInvalid:
            table = pa.ipc.open_stream(pa.BufferReader(data)).read_all()
        yield table.to_pandas().to_csv().encode()
    elif data[:2] == b"\x1f\x8b":
        yield gzip.decompress(data)
    elif data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            yield from (archive.read(name) for name in archive.namelist())


@dataclass
class Seen:
    """Everything Rahat gave back: output streams and response bodies, by label."""

    outputs: list[tuple[str, bytes]] = field(default_factory=list)

    def add(self, label: str, data: bytes) -> None:
        self.outputs.append((label, data))

    def client(self, client: httpx.Client) -> httpx.Client:
        """``client``, recording every response (status line, headers and body)."""

        def record(response: httpx.Response) -> None:
            response.read()
            request = response.request
            head = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
            label = f"#{len(self.outputs)} {request.method} {request.url} -> {response.status_code}"
            self.add(label, head.encode() + b"\n" + response.content)

        client.event_hooks["response"] = [record]
        return client

    def check(self, needles: Needles, root: Path, allowed: set[Path]) -> None:
        """Assert no needle in any output, any file under ``root`` outside ``allowed``."""
        found = {}
        for label, data in self.outputs:
            if hits := leaks(data, needles):
                found[label] = hits
        files = [p for p in sorted(root.rglob("*")) if p.is_file() and p not in allowed]
        assert len(files) > 5, files
        for path in files:
            data = path.read_bytes()
            for i, text in enumerate([data, *decoded(path, data)]):
                if hits := leaks(text, needles):
                    found[f"{path.relative_to(root)}{' (decoded)' * bool(i)}"] = hits
        assert not found, "\n".join(f"{where}: {sorted(hits)}" for where, hits in found.items())


def dump_database(url: str) -> bytes:
    """Every row of every table of the database at ``url``, as text."""
    from sqlalchemy import MetaData, select

    from rahat.api.service.db import make_engine

    engine = make_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as connection:
            rows = [
                f"{table.name}: {tuple(row)!r}"
                for table in meta.sorted_tables
                for row in connection.execute(select(table))
            ]
        assert len(rows) > 10
        return "\n".join(rows).encode()
    finally:
        engine.dispose()
