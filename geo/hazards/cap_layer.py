"""CAP 1.2 alerts as hazard layers: the ``cap`` reader of :func:`rahat.geo.hazards.read_hazard`.

:func:`cap_footprint` turns a parsed alert (:func:`rahat.geo.hazards.cap.parse_cap`) into a
lon/lat layer with one feature per area polygon or circle; :func:`read_cap_layer`, registered
for the ``cap`` format, reads a file into that layer with ``value`` = ``severity_class``
(:data:`~rahat.geo.hazards.cap.SEVERITIES`). Pass ``classes=SEVERITY_CLASSES`` to
``read_hazard`` to class the layer by CAP severity rather than by its kind's default classes.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from rahat.geo.errors import EmptyDataError
from rahat.geo.hazards.cap import MAX_CAP_BYTES, SEVERITIES, CapAlert, CapInfo, read_cap
from rahat.geo.hazards.readers import READERS, ReadRequest, ReadResult

if TYPE_CHECKING:
    import geopandas as gpd
    import shapely

#: ``classes=`` mapping for :func:`rahat.geo.hazards.read_hazard` that classes a CAP layer by
#: severity (class ``i`` is ``severity_class`` ``i``, whatever the kind's own defaults).
SEVERITY_CLASSES: dict[str, Any] = {
    "units": "1",
    "labels": [s.lower() for s in SEVERITIES],
    "thresholds": list(range(1, len(SEVERITIES))),
    "descending": False,
    "inclusive": True,
}
#: Attribute columns of the layer :func:`cap_footprint` returns, in order.
FIELDS = (
    "identifier",
    "msg_type",
    "language",
    "event",
    "area_desc",
    "severity",
    "urgency",
    "certainty",
    "onset",
    "expires",
    "severity_class",
)
_WGS84 = "EPSG:4326"


def select_infos(alert: CapAlert) -> tuple[tuple[CapInfo, ...], str | None]:
    """Return the ``info`` blocks to use: those in English (``en*``), or all if none is.

    Returns
    -------
    tuple
        The blocks used, and a warning saying which were used when the alert has blocks in
        several languages (``None`` otherwise).
    """
    infos = alert.infos
    languages = list(dict.fromkeys(i.language for i in infos))
    if len(languages) < 2:
        return infos, None
    english = tuple(i for i in infos if i.language.lower().startswith("en"))
    listed = ", ".join(languages)
    if english:
        used = ", ".join(dict.fromkeys(i.language for i in english))
        return english, (
            f"the alert has info blocks in {len(languages)} languages ({listed}); used the "
            f"{len(english)} in {used}"
        )
    return infos, (
        f"the alert has no info block in English; used all {len(infos)} blocks, in {listed}"
    )


def _few(items: list[str], n: int = 5) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def cap_footprint(alert: CapAlert, warnings: list[str]) -> gpd.GeoDataFrame:
    """Return the drawable areas of ``alert`` as a lon/lat layer, one row per polygon or circle.

    Uses the blocks chosen by :func:`select_infos`. Columns: ``identifier``, ``msg_type``,
    ``language``, ``event``, ``area_desc``, ``severity``, ``urgency``, ``certainty``,
    ``onset``, ``expires`` (ISO 8601 text or ``None``), ``severity_class`` (0-4, see
    :data:`SEVERITIES`) and ``geometry`` (EPSG:4326).

    Parameters
    ----------
    alert
        The parsed alert.
    warnings
        Receives the language choice, geocode-only areas, a cancelling or non-actual alert
        and areas of Unknown severity.
    """
    import geopandas as gpd

    infos, note = select_infos(alert)
    if note:
        warnings.append(note)
    if alert.msg_type == "Cancel":
        warnings.append(
            "msgType is Cancel: this alert cancels an earlier one, its areas are no longer "
            "under alert"
        )
    if alert.status != "Actual":
        warnings.append(f"status is {alert.status}, not Actual: this is not a real alert")
    rows: list[dict[str, Any]] = []
    geoms: list[shapely.Polygon] = []
    codes_only: list[str] = []
    for info in infos:
        for area in info.areas:
            shapes = area.footprints
            if not shapes and area.geocodes:
                codes = ", ".join(f"{k}={v}" for k, v in area.geocodes[:3])
                codes_only.append(f"{area.area_desc!r} ({codes})")
            for shape in shapes:
                geoms.append(shape)
                rows.append(
                    {
                        "identifier": alert.identifier,
                        "msg_type": alert.msg_type,
                        "language": info.language,
                        "event": info.event,
                        "area_desc": area.area_desc,
                        "severity": info.severity,
                        "urgency": info.urgency,
                        "certainty": info.certainty,
                        "onset": _iso(info.onset),
                        "expires": _iso(info.expires),
                        "severity_class": info.severity_class,
                    }
                )
    if codes_only:
        warnings.append(
            f"{len(codes_only)} areas have only geocodes and cannot be drawn, they are left "
            f"out: {_few(codes_only)}; send them as polygons to include them"
        )
    unknown = sum(r["severity_class"] == 0 for r in rows)
    if unknown:
        warnings.append(
            f"{unknown} areas have severity Unknown (severity_class 0), which the default "
            "classes count as not affected"
        )
    return gpd.GeoDataFrame(rows, columns=list(FIELDS), geometry=geoms, crs=_WGS84)


def _valid_time(infos: tuple[CapInfo, ...], alert: CapAlert) -> Any:
    from rahat.geo.hazards.time import to_datetime

    if not infos or any(i.expires is None for i in infos):
        return None
    start = min(i.onset or i.effective or alert.sent for i in infos)
    end = max(i.expires for i in infos if i.expires is not None)
    return (to_datetime(start), to_datetime(end))


@READERS.register("cap")
def read_cap_layer(request: ReadRequest) -> ReadResult:
    """Read a CAP 1.2 alert as a polygon layer (the ``cap`` reader of ``read_hazard``).

    The file is refused above ``min(MAX_CAP_BYTES, limits.max_vector_bytes)`` before it is
    parsed. The layer is :func:`cap_footprint`, validated like any vector layer (vertex limit,
    invalid rings repaired), with ``value`` taken from ``request.intensity_field`` (default
    ``severity_class``). Its valid time runs from the earliest onset (else effective, else
    sent) to the latest expiry, when every block used has one.

    Raises
    ------
    TooLargeError, UnreadableFileError, SchemaError, GeometryError, EmptyDataError,
    CRSError, AttributeFieldError
    """
    from pyproj import CRS

    from rahat.geo.hazards.crs import resolve_crs
    from rahat.geo.hazards.vector import _check_geometries, _intensity

    source = request.path
    max_bytes = min(MAX_CAP_BYTES, request.limits.max_vector_bytes)
    alert = read_cap(source, max_bytes=max_bytes)
    found: list[str] = []
    gdf = cap_footprint(alert, found)
    if len(gdf) == 0:
        left = [w for w in found if "only geocodes" in w]
        raise EmptyDataError(
            f"the CAP alert {alert.identifier!r} has no area drawn as a polygon or circle, so "
            "there is no footprint to map" + "".join(f"; {w}" for w in left),
            source=source,
        )
    field_name = request.intensity_field or "severity_class"
    values = _intensity(gdf, field_name, source)
    gdf, _ = _check_geometries(gdf, request.limits, source, found)
    crs = resolve_crs(CRS.from_user_input(_WGS84), request.crs, source)
    gdf = gdf.assign(value=values).reset_index(drop=True)
    request.warnings.extend(found)
    infos, _ = select_infos(alert)
    return ReadResult(crs=crs, vector=gdf, names=[field_name], valid_time=_valid_time(infos, alert))
