"""The gap estimate's inputs as the estimator takes them: the survey file and the census.

Shared by ``rahat gap estimate`` and the service's ``GET /gap``, so both read the same survey
the same way and use the same denominators.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rahat.geo.errors import InputError, UnreadableFileError

if TYPE_CHECKING:
    import pandas as pd

#: Survey file suffixes read as Parquet; ``.csv`` is read as CSV.
PARQUET_SUFFIXES = (".parquet", ".pq")


def read_survey(path: Path) -> pd.DataFrame:
    """Read a survey file (Parquet or CSV) and check it can estimate the gap per district.

    Raises
    ------
    rahat.geo.errors.InputError
        For a missing or unreadable file, another format, or a survey without design weights,
        registration status or the unit columns (:func:`rahat.engine.gap.direct.check_survey`).
    """
    import pandas as pd

    from rahat.engine.gap.direct import check_survey

    if not path.is_file():
        raise UnreadableFileError("no such survey file", source=path.name)
    suffix = path.suffix.lower()
    if suffix not in (*PARQUET_SUFFIXES, ".csv"):
        raise InputError(f"use a Parquet or CSV survey, not {suffix or 'no extension'}")
    try:
        frame = pd.read_parquet(path) if suffix != ".csv" else pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise UnreadableFileError(f"cannot read the survey ({exc})", source=path.name) from None
    frame = _status_as_bool(frame)
    try:
        check_survey(frame, "district")
    except InputError as exc:
        raise InputError(str(exc), source=path.name) from None
    return frame


#: Words a CSV survey may write its registration status in (case and spaces ignored).
STATUS_WORDS: dict[str, bool] = {
    "true": True, "yes": True, "y": True, "t": True, "1": True,
    "false": False, "no": False, "n": False, "f": False, "0": False,
}  # fmt: skip


def _status_as_bool(frame: pd.DataFrame) -> pd.DataFrame:
    """A text registration status (``yes``/``no``, ``true``/``false``, ``1``/``0``) as bool.

    Any other word is left as it is, for :func:`~rahat.engine.gap.direct.check_survey` to
    refuse with the values it found; a column of numbers or bools is left to it too.
    """
    import pandas as pd

    from rahat.geo.registry.schema import REGISTERED_COLUMN

    status = frame.get(REGISTERED_COLUMN)
    if status is None or not (
        pd.api.types.is_object_dtype(status) or pd.api.types.is_string_dtype(status)
    ):
        return frame
    words = status.astype("string").str.strip().str.lower()
    mapped = words.map(STATUS_WORDS)
    if mapped.notna().all():
        return frame.assign(**{REGISTERED_COLUMN: mapped.astype(bool)})
    return frame


def census_households() -> pd.DataFrame:
    """2023 census households per district (``province``, ``district``, ``households``)."""
    from rahat.geo.denominators import district_households

    census = district_households()
    return census.rename(columns={"households_2023": "households"})[
        ["province", "district", "households"]
    ]


def tehsil_census(registry: pd.DataFrame) -> pd.DataFrame:
    """2017 census tehsils projected to the registry's date, as the estimator takes them.

    The registry's date is its latest ``last_updated`` (else ``registered_on``); a registry
    with neither is projected to the census date itself.

    Returns
    -------
    pandas.DataFrame
        ``code`` (unit code), ``households``, ``province``, ``district``, ``tehsil``.
    """
    import pandas as pd

    from rahat.engine.targeting.stale import latest_update, update_dates
    from rahat.geo.denominators import CENSUS_2017_DATE, tehsil_households

    as_of = CENSUS_2017_DATE
    for column in ("last_updated", "registered_on"):
        if column in registry:
            latest = latest_update(update_dates(registry[column]))
            if latest is not None:
                as_of = pd.Timestamp(latest).date()
                break
    census = tehsil_households(as_of)
    return census.rename(columns={"unit_code": "code"})[
        ["code", "households", "province", "district", "tehsil"]
    ]
