"""What a claims check needs from a run: its caseload by household id, and its footprint.

From a run folder (``rahat run --out``) :func:`load_run` reads ``caseload.parquet`` (only the
columns used; the ``reasons`` text stays in Arrow and is taken for the matched households only)
and the manifest's totals.

The footprint of an unregistered claimant is approximated cheaply from the caseload, with no
hazard file read again: a claim is *in the footprint* when its stated tehsil (P-code or name) is
the tehsil of an exposed household of the run, or its location falls in a
:data:`CELL_DEGREES` grid cell holding an exposed household. Both are approximations (a tehsil
with one exposed household counts whole; a cell may reach past the hazard's edge by up to a
cell): good enough to send a claimant to registration, not to pay.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rahat.engine.claims.lookup import casefold, find_sorted, fold_codes
from rahat.engine.targeting.caseload import DECISIONS
from rahat.geo.errors import InputError, SchemaError, UnreadableFileError

#: Side of the grid cells of the footprint's approximation, degrees (about 5 km).
CELL_DEGREES = 0.05
#: Caseload columns a claims check reads (``tehsil_pcode`` when present).
CASELOAD_COLUMNS: tuple[str, ...] = (
    "household_id",
    "rank",
    "exposed",
    "amount",
    "decision",
    "reasons",
    "tehsil",
    "lon",
    "lat",
)


def cell_keys(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """One int64 key per :data:`CELL_DEGREES` grid cell holding each point (-1 where NaN)."""
    ok = np.isfinite(lon) & np.isfinite(lat)
    ix = np.floor(np.where(ok, lon, 0.0) / CELL_DEGREES).astype(np.int64) + 10_000
    iy = np.floor(np.where(ok, lat, 0.0) / CELL_DEGREES).astype(np.int64) + 10_000
    return np.where(ok, ix * 100_000 + iy, -1)


@dataclass(frozen=True)
class RunCaseload:
    """A run's caseload sorted by household id, its totals and its footprint's approximation.

    Attributes
    ----------
    household_id
        Sorted household ids of the considered households.
    decision
        Caseload decision per household, as its index in
        :data:`rahat.engine.targeting.caseload.DECISIONS` (-1 if unknown).
    exposed, rank, amount
        Per household, in ``household_id`` order (rank -1 where none).
    reasons, reasons_row
        The caseload's ``reasons`` text in file order (Arrow, not copied), and the row of it
        of each household in ``household_id`` order.
    footprint_units
        Case-folded names and P-codes of the tehsils of exposed households.
    footprint_cells
        Sorted :func:`cell_keys` of exposed households.
    totals
        The manifest's ``totals`` (budget, selected, ...).
    """

    household_id: np.ndarray
    decision: np.ndarray
    exposed: np.ndarray
    rank: np.ndarray
    amount: np.ndarray
    reasons: pa.ChunkedArray
    reasons_row: np.ndarray
    footprint_units: frozenset[str]
    footprint_cells: np.ndarray
    totals: dict[str, Any] = field(default_factory=dict)

    def find(self, household_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Caseload position of each id and whether it is there (``np.searchsorted``)."""
        return find_sorted(self.household_id, household_id)

    def in_footprint(
        self, stated_tehsil: np.ndarray, lon: np.ndarray, lat: np.ndarray
    ) -> np.ndarray:
        """Whether each claim's stated tehsil or location lies in the footprint (see module)."""
        codes, folded = fold_codes(stated_tehsil)
        by_unit = np.isin(folded, list(self.footprint_units))[codes]
        keys = cell_keys(lon, lat)
        return by_unit | (find_sorted(self.footprint_cells, keys)[1] & (keys >= 0))


def load_run(folder: str | Path) -> RunCaseload:
    """Read a run folder's caseload and totals for a claims check.

    Raises
    ------
    rahat.geo.errors.InputError
        If the folder has no readable ``caseload.parquet`` with the needed columns.
    """
    folder = Path(folder)
    path = folder / "caseload.parquet"
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException):
        raise UnreadableFileError(
            "no readable caseload.parquet: give the --out folder of `rahat run`", source=folder
        ) from None
    missing = [c for c in CASELOAD_COLUMNS if c not in schema.names]
    if missing:
        raise SchemaError(f"caseload.parquet lacks {', '.join(missing)}", source=folder)
    columns = [*CASELOAD_COLUMNS, *(["tehsil_pcode"] if "tehsil_pcode" in schema.names else [])]
    # texts repeat (one cut line per unit, a few tehsils): read as dictionaries, a fraction
    # of the memory of a 12 M-row caseload's strings
    texts = [c for c in ("reasons", "tehsil", "tehsil_pcode") if c in columns]
    table = pq.read_table(path, columns=columns, read_dictionary=texts)
    ids = table.column("household_id").to_numpy()
    order = np.argsort(ids, kind="stable")
    exposed = table.column("exposed").to_numpy(zero_copy_only=False).astype(bool)
    mask = pa.array(exposed)
    units: set[str] = set()
    for name in ("tehsil", "tehsil_pcode"):
        if name in table.column_names:
            column = table.column(name).filter(mask)
            if pa.types.is_dictionary(column.type):
                column = column.cast(column.type.value_type)
            units.update(casefold(np.asarray(pc.unique(column).to_pylist(), dtype=object)))
    units.discard("")
    cells = _exposed_cells(table, exposed)
    rank = pc.fill_null(table.column("rank"), -1).to_numpy().astype(np.int64)
    decision = pd.Categorical(table.column("decision").to_pandas(), categories=DECISIONS).codes
    return RunCaseload(
        household_id=ids[order],
        decision=decision.astype(np.int8)[order],
        exposed=exposed[order],
        rank=rank[order],
        amount=table.column("amount").to_numpy(zero_copy_only=False).astype(np.int64)[order],
        reasons=table.column("reasons"),
        reasons_row=order,
        footprint_units=frozenset(units),
        footprint_cells=cells[cells >= 0],
        totals=_totals(folder),
    )


def _exposed_cells(table: pa.Table, exposed: np.ndarray, chunk: int = 1 << 21) -> np.ndarray:
    """Sorted distinct :func:`cell_keys` of the exposed rows, a chunk of rows at a time.

    A national caseload has tens of millions of rows: chunks keep the temporaries of
    :func:`cell_keys` to a few tens of megabytes.
    """
    lon = table.column("lon").to_numpy(zero_copy_only=False)
    lat = table.column("lat").to_numpy(zero_copy_only=False)
    parts = [np.zeros(0, dtype=np.int64)]
    for start in range(0, len(exposed), chunk):
        rows = np.flatnonzero(exposed[start : start + chunk]) + start
        parts.append(np.unique(cell_keys(lon[rows], lat[rows])))
    return np.unique(np.concatenate(parts))


def _totals(folder: Path) -> dict[str, Any]:
    """The manifest's ``totals`` (empty when there is no readable manifest)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    totals = manifest.get("totals", {}) if isinstance(manifest, dict) else {}
    if not isinstance(totals, dict):
        raise InputError("manifest.json: 'totals' is not an object", source=folder)
    return totals
