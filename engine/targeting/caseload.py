"""The :class:`Caseload`: one row per household considered, totals, summary, manifest.

A household is **considered** when it is eligible, *exposed* (hazard class at least 1 on any of
the scenario's hazard layers) or in a notified unit. With no hazard layer at all, the households
of the notified units count as exposed.

Columns: ``household_id``, ``rank`` (1-based among eligible, NA otherwise), ``selected``,
``eligible``, ``exposed``, ``bottom40`` (PMT at or below the registry-wide 40th percentile),
``score`` and ``score_<component>`` (priority.py), ``benefit`` (entitlement, 0 if not
eligible), ``amount`` (paid: benefit if selected), ``decision`` (the final decision, one of
:data:`DECISIONS`), ``reasons`` (``rule:pass|fail`` joined by ``;``, then the cause of the
decision), ``province``, ``district``, ``tehsil`` (and ``district_pcode``, ``tehsil_pcode``
where the registry has them), ``pmt_score``, ``household_size``, ``lon``, ``lat``,
``located_district`` (the district polygon the point lies in: it differs from ``district``
for a household recorded elsewhere, a data-quality flag, not a rejection), ``climate_zone``
(the Köppen-Geiger code at the point, e.g. ``BWh``; both missing where the point lies in no
polygon), per hazard layer ``<layer>_intensity`` (layer dtype) and ``<layer>_class`` (label),
and per scenario zone layer ``<zone>_zone`` (zone name). A scenario with ``stale_records``
adds ``stale_record`` (after ``bottom40``): the record was not updated for more than its
``older_than_years`` (:mod:`rahat.engine.targeting.stale`).

The cause that ends ``reasons`` is one of

- ``selected: within the budget`` or ``selected: within the quota``;
- ``budget: cut at rank 1203 (score 0.412 < 0.415 at the cut)``: eligible, ranked after the
  last household the budget pays for (``=`` when the score ties the cut and the keyed hash
  ranked it later);
- ``quota PK703: full``: eligible, but the quota of its unit (P-code, else name) was used up
  by higher-ranked households of that unit;
- ``pmt<=32: fail (41.2)``: not eligible; the failing rule with the household's value (every
  failing hazard or livelihood rule when the household is not affected, else the first
  failing gate in rule order).

Rows are in rank order (eligible households, rank 1 first), then the other considered
households by household id; neither depends on the order of the registry's rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from rahat.engine.targeting.money import checked_total
from rahat.engine.targeting.priority import COMPONENTS
from rahat.engine.targeting.scenario import Scenario
from rahat.engine.targeting.unit_sums import unit_sums
from rahat.geo.files import sha256_file
from rahat.geo.registry.model import Registry

if TYPE_CHECKING:
    from rahat.engine.targeting.gap_join import GapJoin
    from rahat.engine.targeting.rows import CaseloadRows

#: Rows per slice of :meth:`Caseload.batches` (the caseload Parquet's row group).
BATCH_ROWS = 1024 * 1024

#: Registry columns copied into the caseload (when the registry has them).
REGISTRY_FIELDS: tuple[str, ...] = (
    "province",
    "district",
    "tehsil",
    "district_pcode",
    "tehsil_pcode",
    "pmt_score",
    "household_size",
    "lon",
    "lat",
)
#: Columns of every caseload (besides the per-layer ones), in file order.
CASELOAD_FIELDS: tuple[str, ...] = (
    "household_id",
    "rank",
    "selected",
    "eligible",
    "exposed",
    "bottom40",
    "score",
    *(f"score_{name}" for name in COMPONENTS),
    "benefit",
    "amount",
    "decision",
    "reasons",
    *REGISTRY_FIELDS,
    "located_district",
    "climate_zone",
)
#: Caseload columns taken from the overlay's zone layers: column -> zone layer.
ZONE_COLUMNS: dict[str, str] = {"located_district": "district", "climate_zone": "climate"}
#: Suffix of the per-scenario-zone-layer columns, ``<zone>_zone``.
ZONE_FIELD_SUFFIX = "_zone"
#: Values of the ``decision`` column, in category order.
DECISIONS: tuple[str, ...] = ("selected", "cut_budget", "cut_quota", "not_eligible")
#: Suffixes of the per-layer columns: ``<layer>_intensity`` and ``<layer>_class`` per hazard
#: layer, ``<zone>_zone`` per scenario zone layer.
LAYER_FIELD_SUFFIXES: tuple[str, ...] = ("_intensity", "_class", ZONE_FIELD_SUFFIX)

#: Columns of :meth:`Caseload.summary`, in order (before the options' own).
SUMMARY_COLUMNS: tuple[str, ...] = (
    "level",
    "province",
    "district",
    "tehsil",
    "pcode",
    "exposed",
    "eligible",
    "households",
    "people",
    "amount",
    "exposed_reached",
    "exposed_reached_share",
    "exposed_bottom40",
    "exposed_bottom40_reached",
    "exposed_bottom40_reached_share",
)
#: Summary columns a scenario with ``stale_records`` adds at the end.
STALE_SUMMARY_COLUMNS: tuple[str, ...] = ("stale_in_footprint", "stale_selected")

#: Admin levels of the summary, with their grouping columns.
LEVEL_COLUMNS: dict[str, tuple[str, ...]] = {
    "province": ("province",),
    "district": ("province", "district"),
    "tehsil": ("province", "district", "tehsil"),
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rahat")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


def registry_sha256(registry: Registry) -> str:
    """Return the sha256 of the registry snapshot.

    The bytes of its source file (or of every file under a source folder, in path order) when
    it was read from disk; otherwise a hash of the frame's column names, dtypes and values.
    """
    source = Path(registry.source) if registry.source else None
    if source is not None and source.is_file():
        return sha256_file(source)
    digest = hashlib.sha256()
    if source is not None and source.is_dir():
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(source)).encode())
            digest.update(sha256_file(path).encode())
        return digest.hexdigest()
    for name in registry.frame.columns:
        values = registry.array(name)
        digest.update(f"{name}:{values.dtype}".encode())
        if values.dtype == object:
            digest.update("\x1f".join(map(str, values)).encode())
        else:
            digest.update(np.ascontiguousarray(values).tobytes())
        column = registry.frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            digest.update("\x1f".join(map(str, column.cat.categories)).encode())
    return digest.hexdigest()


#: Columns of :attr:`Caseload.core`.
CORE_COLUMNS = ("household_id", "province", "district", "selected", "exposed", "amount")


def arrow_columns(columns: dict[str, Any], schema: pa.Schema | None = None) -> pa.Table:
    """The caseload's columns as an Arrow table, as ``pa.Table.from_pandas`` would make it.

    Each column is converted on its own (no pandas frame, whose block consolidation copies
    every column); the schema, with its ``pandas`` metadata, is that of the frame's first row
    unless given (the schema of an earlier slice of the same caseload).
    """
    if schema is None:
        head = pd.DataFrame({name: values[:1] for name, values in columns.items()})
        schema = pa.Schema.from_pandas(head, preserve_index=False)
    arrays = [
        pa.array(values, type=schema.field(name).type, from_pandas=True)
        for name, values in columns.items()
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


@dataclass
class Caseload:
    """Result of evaluating a scenario on an exposure.

    Attributes
    ----------
    scenario
        The scenario evaluated.
    totals
        Headline figures (households, people, amount, coverage, the cut line).
    quotas
        One row per quota unit: eligible, quota, selected, amount, cut line.
    messages
        Explanations of empty or surprising results (:meth:`explain`).
    hazard_sha256
        sha256 of each hazard layer's source file, by layer name.
    registry
        The registry evaluated (for the manifest's snapshot hash).
    rows
        The per-household arrays the columns are built from, on first access
        (:class:`~rahat.engine.targeting.rows.CaseloadRows`).
    registry_rejected
        Rows of the registry file that failed validation (``None``: not read from a file).
    warnings
        Warnings of the readers (hazard layers, registry), recorded in the manifest.
    location_mismatches
        Households whose recorded district differs from the district at their location
        (``None``: not checked).
    gap
        The coverage-gap table matched to the caseload's districts (``None``: none given).
    report
        Blocks the manifest and the run's JSON add (``stale_records``, ``gap``); empty for a
        scenario without these options.
    hazard_reading
        By layer name, how the layer was read (``time``: its time axis reduction; ``warnings``),
        added to the layer's entry in the manifest (:func:`rahat.engine.pipeline.hazard_reading`).
    """

    scenario: Scenario
    totals: dict[str, Any]
    quotas: pd.DataFrame
    messages: list[str]
    hazard_sha256: dict[str, str]
    registry: Registry | None = field(default=None, repr=False)
    registry_rejected: int | None = None
    warnings: tuple[str, ...] = ()
    location_mismatches: int | None = None
    rows: CaseloadRows | None = field(default=None, repr=False)
    gap: GapJoin | None = field(default=None, repr=False)
    report: dict[str, Any] = field(default_factory=dict)
    hazard_reading: dict[str, dict[str, Any]] = field(default_factory=dict)
    _columns: dict[str, Any] | None = field(default=None, repr=False)
    _some: dict[str, Any] = field(default_factory=dict, repr=False)
    _frame: pd.DataFrame | None = field(default=None, repr=False)
    _table: pa.Table | None = field(default=None, repr=False)
    _manifest: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def columns(self) -> dict[str, Any]:
        """The caseload's columns by name (NumPy arrays, categoricals), built on first access."""
        if self._columns is None:
            assert self.rows is not None
            self._columns = self.rows.columns(self.rows.positions())
        return self._columns

    @property
    def frame(self) -> pd.DataFrame:
        """One row per household considered (module docstring), built on first access."""
        if self._frame is None:
            self._frame = pd.DataFrame(self.columns)
        return self._frame

    @property
    def table(self) -> pa.Table:
        """:attr:`frame` as an Arrow table, converted column by column (no pandas frame built).

        Equal, schema metadata included, to ``pa.Table.from_pandas(frame, preserve_index=False)``.
        """
        if self._table is None:
            self._table = arrow_columns(self.columns)
        return self._table

    def batches(
        self, *, selected_only: bool = False, rows_per_batch: int = BATCH_ROWS
    ) -> Iterator[pa.Table]:
        """The rows of :attr:`table` slice by slice (at least one slice, maybe empty).

        While neither :attr:`columns` nor :attr:`table` is built, each slice is built from its
        own rows, so writing a caseload slice by slice holds one slice at a time.

        Parameters
        ----------
        selected_only
            Only the selected households (rank order).
        rows_per_batch
            Rows of each slice (the last may be shorter).
        """
        if self._columns is not None or self.rows is None:
            table = self.table
            if selected_only:
                table = table.filter(table["selected"])
            return (
                table.slice(start, rows_per_batch)
                for start in range(0, max(table.num_rows, 1), rows_per_batch)
            )
        source = self.rows
        positions = source.positions(selected_only=selected_only)  # now, in the caller's thread

        def slices() -> Iterator[pa.Table]:
            schema: pa.Schema | None = None
            for start in range(0, max(len(positions), 1), rows_per_batch):
                part = source.columns(positions[start : start + rows_per_batch])
                table = arrow_columns(part, schema)
                schema = table.schema
                yield table

        return slices()

    @property
    def selected_table(self) -> pa.Table:
        """The rows of :attr:`table` of the selected households (rank order)."""
        return pa.concat_tables(self.batches(selected_only=True))

    @property
    def column_names(self) -> list[str]:
        """Names of the columns, in file order."""
        if self._columns is None and self.rows is not None:
            return self.rows.column_names()
        return list(self.columns)

    def column(self, name: str) -> pd.Series:
        """One column as a pandas Series (built alone while :attr:`columns` is not built)."""
        if self._frame is not None:
            return self._frame[name]
        if self._columns is not None or self.rows is None:
            values = self.columns[name]
        else:
            if name not in self._some:
                rows = self.rows
                self._some.update(rows.columns(rows.positions(), names={name}, threads=1))
            values = self._some[name]
        return pd.Series(values, name=name, copy=False)

    @property
    def core(self) -> pd.DataFrame:
        """The columns a comparison needs, in :attr:`frame`'s row order, without building it.

        ``household_id``, ``province``, ``district``, ``selected``, ``exposed`` and ``amount``:
        a what-if compares two caseloads of millions of households on these alone, while the
        whole frame (reasons, scores, registry fields) costs seconds to build.
        """
        if self._columns is not None or self.rows is None:
            return pd.DataFrame({name: self.column(name) for name in CORE_COLUMNS})
        return self.rows.core()

    def __len__(self) -> int:
        return int(self.totals["considered"])

    @property
    def selected(self) -> pd.DataFrame:
        """Return the rows of the selected households, in rank order."""
        return self.frame[self.column("selected").to_numpy()]

    def explain(self) -> list[str]:
        """Return plain-language explanations of an empty or surprising result."""
        return list(self.messages)

    def summary(self, levels: tuple[str, ...] = ("province", "district", "tehsil")) -> pd.DataFrame:
        """Return the caseload by admin unit, one block of rows per level plus a national row.

        Columns: ``level``, ``province``, ``district``, ``tehsil``, ``pcode``, ``exposed``,
        ``eligible``, ``households`` (selected), ``people``, ``amount``, ``exposed_reached``,
        ``exposed_reached_share``, ``exposed_bottom40``, ``exposed_bottom40_reached_share``.
        Shares are NaN where the denominator is 0. With ``stale_records`` also
        ``stale_in_footprint`` (exposed) and ``stale_selected``; with a gap table
        ``unregistered_b40_est``, ``unregistered_b40_lo90`` and ``unregistered_b40_hi90`` after
        ``households``, on the district rows (empty elsewhere and where no gap row matches).
        """
        f = self.column
        sel = f("selected").to_numpy()
        exp = f("exposed").to_numpy()
        b40 = f("bottom40").to_numpy()
        counted = {
            "exposed": exp,
            "eligible": f("eligible").to_numpy(),
            "households": sel,
            "people": np.where(sel, f("household_size").to_numpy(np.int64), 0),
            "amount": f("amount").to_numpy(np.int64),
            "exposed_reached": sel & exp,
            "exposed_bottom40": exp & b40,
            "exposed_bottom40_reached": sel & exp & b40,
        }
        if "stale_record" in self.column_names:
            stale = f("stale_record").to_numpy()
            counted["stale_in_footprint"] = exp & stale
            counted["stale_selected"] = sel & stale
        checked_total(counted["amount"], "caseload amount")  # bounds every group sum
        pcode_of = {"district": "district_pcode", "tehsil": "tehsil_pcode"}
        counts = list(counted)
        total = pd.DataFrame(
            {name: [int(np.sum(values, dtype=np.int64))] for name, values in counted.items()}
        )
        total.insert(0, "level", "total")
        blocks = [total]
        for level in levels:
            keys = list(LEVEL_COLUMNS[level])
            pcode = pcode_of.get(level)
            first = {"pcode": f(pcode)} if pcode in self.column_names else None
            # every unit with a considered household (notified: even at 0), by name
            g = unit_sums({k: f(k) for k in keys}, counted, first)
            g = g.sort_values(keys, na_position="last", kind="stable", ignore_index=True)
            g.insert(0, "level", level)
            blocks.append(g)
        out = pd.concat(blocks, ignore_index=True)
        for col in ("province", "district", "tehsil", "pcode"):
            if col not in out.columns:
                out[col] = None
            out[col] = out[col].astype(object).where(out[col].notna(), None)
        for col in counts:
            out[col] = out[col].astype(np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["exposed_reached_share"] = out["exposed_reached"] / out["exposed"].where(
                out["exposed"] > 0
            )
            out["exposed_bottom40_reached_share"] = out["exposed_bottom40_reached"] / out[
                "exposed_bottom40"
            ].where(out["exposed_bottom40"] > 0)
        out = out[[*SUMMARY_COLUMNS, *(c for c in STALE_SUMMARY_COLUMNS if c in counted)]]
        if self.gap is not None:
            district = (out["level"] == "district").to_numpy()
            estimates = self.gap.estimates(out[district])
            at = list(out.columns).index("households") + 1
            for offset, name in enumerate(estimates.columns):
                column = pd.Series(pd.NA, index=out.index, dtype="Int64")
                column[district] = estimates[name].to_numpy()
                out.insert(at + offset, name, column)
        return out

    @property
    def manifest(self) -> dict[str, Any]:
        """Return the provenance record: input hashes, Rahat version, seed (no timestamps).

        Besides the hashes it records the registry rows rejected by validation, the households
        whose recorded district differs from their location, and the readers' warnings.
        """
        base = self._base_manifest()
        registry = dict(base["registry"])
        registry["rejected_rows"] = self.registry_rejected
        registry["location_mismatches"] = self.location_mismatches
        hazards = {
            name: {**entry, **self.hazard_reading.get(name, {})}
            for name, entry in base["hazards"].items()
        }
        return {
            **base,
            "registry": registry,
            "hazards": hazards,
            "warnings": list(self.warnings),
            **self.report,
        }

    def _base_manifest(self) -> dict[str, Any]:
        if self._manifest is None:
            registry = self.registry
            self._manifest = {
                "scenario": self.scenario.name,
                "scenario_sha256": hashlib.sha256(
                    self.scenario.canonical_json().encode()
                ).hexdigest(),
                "registry": {
                    "source": Path(registry.source).name if registry and registry.source else None,
                    "households": len(registry) if registry is not None else None,
                    "sha256": registry_sha256(registry) if registry is not None else None,
                },
                "hazards": {
                    layer.name: {
                        "path": layer.path,
                        "kind": layer.kind,
                        "sha256": self.hazard_sha256.get(layer.name, ""),
                    }
                    for layer in self.scenario.hazards
                },
                "seed": self.scenario.seed,
                "rahat_version": _version(),
                "totals": {k: v for k, v in self.totals.items() if not isinstance(v, dict)},
            }
        return self._manifest
