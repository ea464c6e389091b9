"""The household registry's columns: names, canonical dtypes and allowed values.

One household per row. Columns are kept as NumPy-backed arrays (categoricals for names and
codes), never as Python objects per row, so that 40 M households fit in about 1.5 GB.

``household_id`` is a positive 64-bit integer: a *pseudonymous* id (for NSER, a keyed hash of
the real household number), stable across snapshots. It is the only id Rahat ever shows unless
a data-sharing agreement grants more.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class Dwelling(StrEnum):
    """Construction of the dwelling, as recorded by the NSER survey."""

    KACHA = "kacha"
    SEMI_PAKKA = "semi_pakka"
    PAKKA = "pakka"


class Livelihood(StrEnum):
    """Main livelihood of the household."""

    CROP_FARMING = "crop_farming"
    LIVESTOCK = "livestock"
    FISHING = "fishing"
    DAILY_WAGE = "daily_wage"
    SALARIED = "salaried"
    BUSINESS = "business"
    REMITTANCES = "remittances"
    NONE = "none"


#: Programme enrolments recorded in the ``programmes`` column (``|``-separated, sorted).
PROGRAMMES: tuple[str, ...] = (
    "bisp_kafaalat",
    "bisp_taleemi",
    "bisp_nashonuma",
    "sehat_card",
    "zakat",
)

#: Separator between enrolments in the ``programmes`` column.
PROGRAMME_SEPARATOR = "|"


@dataclass(frozen=True)
class Column:
    """Specification of one registry column.

    Parameters
    ----------
    name
        Column name in files and frames.
    kind
        ``int``, ``float``, ``bool``, ``category``, ``date``.
    dtype
        Canonical in-memory dtype for numeric columns (``None`` for categoricals and dates).
    required
        Whether a file must have the column.
    nullable
        Whether missing values are allowed.
    minimum, maximum
        Inclusive bounds for numeric columns.
    categories
        Allowed values of a closed categorical column (``None``: open, for example names).
    """

    name: str
    kind: str
    dtype: np.dtype | None = None
    required: bool = True
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] | None = None


COLUMNS: tuple[Column, ...] = (
    Column("household_id", "int", np.dtype("int64"), minimum=1),
    Column("lon", "float", np.dtype("float64"), minimum=-180.0, maximum=180.0),
    Column("lat", "float", np.dtype("float64"), minimum=-90.0, maximum=90.0),
    Column("province", "category"),
    Column("district", "category"),
    Column("tehsil", "category", nullable=True),
    Column("district_pcode", "category", required=False, nullable=True),
    Column("tehsil_pcode", "category", required=False, nullable=True),
    Column("pmt_score", "float", np.dtype("float32"), minimum=0.0, maximum=100.0),
    Column("household_size", "int", np.dtype("int16"), minimum=1, maximum=60),
    Column("children_under5", "int", np.dtype("int16"), minimum=0, maximum=60),
    Column("elderly", "int", np.dtype("int16"), minimum=0, maximum=60),
    Column("disabled", "int", np.dtype("int16"), minimum=0, maximum=60),
    Column("female_headed", "bool", np.dtype("bool")),
    Column("dwelling", "category", categories=tuple(d.value for d in Dwelling)),
    Column("livelihood", "category", categories=tuple(v.value for v in Livelihood)),
    Column("last_updated", "date"),
    Column("programmes", "category", required=False, nullable=True),
    Column("registered_on", "date", required=False, nullable=True),
    # GPS accuracy of the point (metres, e.g. a phone's horizontal accuracy); hazard sampling
    # looks this far around the household at least (rahat.engine.pipeline). Empty: unknown.
    Column(
        "location_accuracy_m",
        "float",
        np.dtype("float32"),
        required=False,
        nullable=True,
        minimum=0.0,
    ),
    # Keyed tokens of the head's CNIC and of the household's phone (rahat.geo.registry.identity):
    # raw numbers are never stored; a file's raw cnic/phone columns are tokenised on reading.
    # 0 or empty: none (no valid number).
    Column("cnic_token", "int", np.dtype("int64"), required=False, nullable=True),
    Column("phone_token", "int", np.dtype("int64"), required=False, nullable=True),
)

#: Columns by name.
COLUMNS_BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}

#: Names of the columns every registry file must have.
REQUIRED_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.required)

#: Member counts that may not exceed ``household_size``.
MEMBER_COUNT_COLUMNS: tuple[str, ...] = ("children_under5", "elderly", "disabled")

#: Extra column of ``population.parquet`` (the synthetic full population): registered or not.
REGISTERED_COLUMN = "registered"

#: Date unit used for date columns in memory (``datetime64[s]``).
DATE_DTYPE = np.dtype("datetime64[s]")
