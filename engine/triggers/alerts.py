"""CAP 1.2 alerts as a trigger source: the highest severity in force over each area, per day.

The source's path is one CAP file or a folder of them (``*.xml``, read in name order, each
within the CAP reader's limits: :func:`rahat.geo.hazards.cap.read_cap`). An info block is in
force from its onset (else effective, else the alert's sent time) to its expiry (else that same
day) and covers an area when one of its polygons or circles intersects the area. The area's
value on a day is the highest severity class in force (0 none or Unknown, 1 Minor .. 4
Extreme), so ``above: {value: 3}`` reads "Severe or Extreme". Alerts whose status is not
``Actual`` (exercises, tests, drafts) and cancellations are left out, each with a warning: a
test message must never release money. Areas described only by geocodes are named in a
warning (they cannot be placed).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from rahat.engine.triggers.series import Series
from rahat.geo.errors import TriggerError

#: Most CAP files one source may hold.
MAX_ALERT_FILES = 10_000


def _files(path: Path) -> list[Path]:
    files = sorted(path.glob("*.xml")) if path.is_dir() else [path]
    if not files:
        raise TriggerError("the folder holds no CAP file (*.xml)", source=path)
    if len(files) > MAX_ALERT_FILES:
        raise TriggerError(f"more than {MAX_ALERT_FILES:,} CAP files", source=path)
    return files


def _day(value: datetime) -> np.datetime64:
    return np.datetime64(value.date().isoformat(), "D")


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

    spans: list[tuple[np.datetime64, np.datetime64, int, Any]] = []
    notes: list[str] = []
    skipped: list[str] = []
    for file in _files(path):
        alert = read_cap(file)
        if alert.status != "Actual" or alert.msg_type == "Cancel":
            skipped.append(f"{file.name} ({alert.status}, {alert.msg_type})")
            continue
        infos, note = select_infos(alert)
        if note:
            notes.append(f"{file.name}: {note}")
        for info in infos:
            start = info.onset or info.effective or alert.sent
            end = info.expires or start
            shapes = [shape for area in info.areas for shape in area.footprints]
            placeless = [a.area_desc for a in info.areas if not a.footprints]
            if placeless:
                notes.append(f"{file.name}: areas with only geocodes left out: {placeless}")
            if shapes:
                spans.append(
                    (_day(start), _day(end), info.severity_class, shapely.union_all(shapes))
                )
    if skipped:
        notes.append(
            f"{len(skipped)} alerts left out (not Actual, or cancellations): {skipped[:5]}"
        )
    first = min([as_of, *(s[0] for s in spans)])
    last = max([as_of, *(s[1] for s in spans)])
    days = np.arange(first, last + np.timedelta64(1, "D"), dtype="datetime64[D]")
    values = np.zeros((len(areas), 1, len(days)))
    for from_day, to_day, severity, shape in spans:
        rows = np.flatnonzero(shapely.intersects(np.asarray(geometries, dtype=object), shape))
        cols = np.flatnonzero((days >= from_day) & (days <= to_day))
        cells = (rows[:, None], 0, cols[None, :])
        values[cells] = np.maximum(values[cells], severity)
    return Series(tuple(areas), days, values, str(path), tuple(notes))
