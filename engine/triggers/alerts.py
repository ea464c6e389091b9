"""CAP 1.2 alerts as a trigger source: the highest severity in force over each area, per day.

The source's path is one CAP file or a folder of them (``*.xml``, read in name order, each
within the CAP reader's limits: :func:`rahat.geo.hazards.cap.read_cap`). An info block is in
force from its onset (else effective, else the alert's sent time) until its expiry (else the
end of that day): every day it touches counts, and an expiry at midnight does not touch the
day it starts. It covers an area when one of its polygons or circles intersects the area. The
area's value on a day is the highest severity class in force (0 none or Unknown, 1 Minor .. 4
Extreme), so ``above: {value: 3}`` reads "Severe or Extreme".

Only ``Actual`` alerts of type ``Alert`` or ``Update`` count: exercises, tests, drafts,
acknowledgements and errors are left out with a warning, since a test message must never
release money. A ``Cancel`` or an ``Update`` ends the alerts it references from the day it was
sent (the stricter reading: not in force on that day at all). Areas described only by geocodes
are named in a warning (they cannot be placed). The days kept are those within
:data:`MAX_SPAN_DAYS` of the as-of date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from rahat.engine.triggers.series import Series
from rahat.geo.errors import TriggerError

#: Most CAP files one source may hold.
MAX_ALERT_FILES = 10_000

#: Days before and after the as-of date an alert series keeps.
MAX_SPAN_DAYS = 366

#: Message types whose info blocks are in force.
IN_FORCE_TYPES = ("Alert", "Update")

#: Message types that end the alerts they reference.
ENDING_TYPES = ("Update", "Cancel")


def _files(path: Path) -> list[Path]:
    files = sorted(path.glob("*.xml")) if path.is_dir() else [path]
    if not files:
        raise TriggerError("the folder holds no CAP file (*.xml)", source=path)
    if len(files) > MAX_ALERT_FILES:
        raise TriggerError(f"more than {MAX_ALERT_FILES:,} CAP files", source=path)
    return files


def _day(value: datetime) -> np.datetime64:
    return np.datetime64(value.date().isoformat(), "D")


def _last_day(start: datetime, expires: datetime | None) -> np.datetime64:
    """The last day an info block is in force (an expiry at midnight ends the day before)."""
    if expires is None:
        return _day(start)
    return max(_day(start), _day(expires - timedelta(microseconds=1)))


@dataclass(frozen=True)
class _Span:
    identifier: str
    first: np.datetime64
    last: np.datetime64
    severity: int
    shape: Any


def read_alert_series(
    path: Path, areas: Sequence[str], geometries: Sequence[Any], as_of: np.datetime64
) -> Series:
    """Read CAP alerts into a series of severity classes per area and day.

    Parameters
    ----------
    path
        A CAP file or a folder of them.
    areas, geometries
        Area codes and polygons (EPSG:4326).
    as_of
        The decision date; the series covers it even when no alert does.

    Raises
    ------
    rahat.geo.errors.TriggerError
        For an empty folder or too many files.
    rahat.geo.errors.InputError
        For a CAP file that is malformed, too large, or carries a DTD or entities (the CAP
        reader's own errors, naming the file).
    """
    import shapely

    from rahat.geo.hazards.cap import read_cap
    from rahat.geo.hazards.cap_layer import select_infos

    spans: list[_Span] = []
    ended: dict[str, np.datetime64] = {}
    notes: list[str] = []
    skipped: list[str] = []
    for file in _files(path):
        alert = read_cap(file)
        if alert.status != "Actual" or alert.msg_type not in (*IN_FORCE_TYPES, "Cancel"):
            skipped.append(f"{file.name} ({alert.status}, {alert.msg_type})")
            continue
        if alert.msg_type in ENDING_TYPES:
            for reference in alert.references:
                sent = _day(alert.sent)
                ended[reference] = min(ended.get(reference, sent), sent)
        if alert.msg_type == "Cancel":
            continue
        infos, note = select_infos(alert)
        if note:
            notes.append(f"{file.name}: {note}")
        for info in infos:
            start = info.onset or info.effective or alert.sent
            shapes = [shape for area in info.areas for shape in area.footprints]
            placeless = [a.area_desc for a in info.areas if not a.footprints]
            if placeless:
                notes.append(f"{file.name}: areas with only geocodes left out: {placeless}")
            if shapes:
                spans.append(
                    _Span(
                        alert.identifier,
                        _day(start),
                        _last_day(start, info.expires),
                        info.severity_class,
                        shapely.union_all(shapes),
                    )
                )
    if skipped:
        notes.append(
            f"{len(skipped)} messages left out (not Actual, or not an Alert or Update): "
            f"{skipped[:5]}"
        )
    reach = np.timedelta64(MAX_SPAN_DAYS, "D")
    low, high = as_of - reach, as_of + reach
    spans = [
        _Span(
            s.identifier,
            max(s.first, low),
            min(s.last, high, ended.get(s.identifier, high + 1) - np.timedelta64(1, "D")),
            s.severity,
            s.shape,
        )
        for s in spans
    ]
    spans = [s for s in spans if s.first <= s.last]
    first = min([as_of, *(s.first for s in spans)])
    last = max([as_of, *(s.last for s in spans)])
    days = np.arange(first, last + np.timedelta64(1, "D"), dtype="datetime64[D]")
    values = np.zeros((len(areas), 1, len(days)))
    boxes = np.asarray(geometries, dtype=object)
    for span in spans:
        rows = np.flatnonzero(shapely.intersects(boxes, span.shape))
        cols = np.flatnonzero((days >= span.first) & (days <= span.last))
        cells = (rows[:, None], 0, cols[None, :])
        values[cells] = np.maximum(values[cells], span.severity)
    return Series(tuple(areas), days, values, str(path), tuple(notes))
