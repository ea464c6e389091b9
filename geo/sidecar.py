"""Checks of the JSON sidecars that describe entries of Rahat's file stores.

A stored entry (a prepared footprint, a stored exposure) is a data file plus a small JSON
sidecar naming it with its length and sha256. Before an entry is used, its sidecar must be a
JSON object of the expected schema version and key, hold every expected field with its type,
and name a data file inside the store that belongs to the key. One function checks all of that
for every store.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def sidecar_problem(
    meta: Any, key: str, schema: int, fields: Mapping[str, type], file_field: str
) -> str | None:
    """Return what is wrong with the sidecar ``meta`` of entry ``key``, or ``None``.

    Parameters
    ----------
    meta
        The sidecar, as decoded from JSON.
    key
        The entry's key: the sidecar must name it, and its data file must start with it.
    schema
        The store's schema version the sidecar must carry.
    fields
        Field name -> type every sidecar of the store holds (``file_field`` among them).
    file_field
        The field naming the data file (a bare file name in the store's folder).

    Returns
    -------
    str or None
        A short reason (``its sidecar lacks 'sha256'``), or ``None`` for a sound sidecar.

    Examples
    --------
    >>> fields = {"file": str, "bytes": int}
    >>> sidecar_problem({"schema": 1, "key": "ab", "file": "ab.arrow", "bytes": 8},
    ...                 "ab", 1, fields, "file") is None
    True
    >>> sidecar_problem({"schema": 1, "key": "ab", "file": "../x", "bytes": 8},
    ...                 "ab", 1, fields, "file")
    'its sidecar names a file outside the store'
    """
    if not isinstance(meta, dict):
        return "its sidecar is not a JSON object"
    if meta.get("schema") != schema:
        return f"schema version {meta.get('schema')!r}, expected {schema}"
    if meta.get("key") != key:
        return "its sidecar belongs to another key"
    for name, kind in fields.items():
        if not isinstance(meta.get(name), kind):
            return f"its sidecar lacks {name!r}"
    file_name = meta[file_field]
    if Path(file_name).name != file_name or not file_name.startswith(key):
        return "its sidecar names a file outside the store"
    return None


def read_sidecar(
    folder: Path, key: str, schema: int, fields: Mapping[str, type], file_field: str
) -> tuple[Any, str | None] | None:
    """Read the sidecar ``<folder>/<key>.json`` and check it (:func:`sidecar_problem`).

    Returns
    -------
    tuple or None
        ``None`` when there is no such entry, else the decoded sidecar and what is wrong with
        it (``None`` when sound).

    Raises
    ------
    OSError, ValueError
        When the sidecar cannot be read or is not JSON (callers treat it as a damaged entry).
    """
    sidecar = folder / f"{key}.json"
    if not sidecar.exists():
        return None
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    return meta, sidecar_problem(meta, key, schema, fields, file_field)
