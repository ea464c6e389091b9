"""Common Alerting Protocol 1.2 alerts (OASIS CAP v1.2 XML): a safe parser.

National met and hydrological services publish warnings as CAP 1.2 documents (namespace
:data:`CAP_NAMESPACE`): one ``<alert>`` with ``<info>`` blocks (one per language or event),
each with ``<area>`` blocks drawn as polygons, circles or named by geocodes.
:func:`parse_cap` turns the XML into frozen dataclasses; :mod:`rahat.geo.hazards.cap_layer`
turns those into a footprint with one feature per area polygon or circle, whose ``value`` is
the CAP severity as a number (:data:`SEVERITIES`), and reads ``.xml`` alerts for
:func:`rahat.geo.hazards.read_hazard`.

Safety: the document is parsed with :mod:`defusedxml` with DTDs, entities and external
references forbidden (no billion laughs, no ``file:///`` entities), after its size is checked
against :data:`MAX_CAP_BYTES`; the counts of ``info`` blocks, areas and polygon points are
limited while parsing (:data:`MAX_INFOS`, :data:`MAX_AREAS`, :data:`MAX_POINTS`).

Geometry: CAP writes WGS 84 pairs **latitude first** (``"lat,lon lat,lon ..."``); they become
shapely ``(lon, lat)`` coordinates. A polygon must have at least 4 pairs, the first and last
equal (CAP 1.2 requires closed rings). A circle ``"lat,lon radius_km"`` becomes the polygon
of :data:`CIRCLE_POINTS` points at the radius's geodesic distance from the centre on the
WGS 84 ellipsoid (:class:`pyproj.Geod`): an inscribed polygon, inside the circle and reaching
at least cos(pi / 64), 99.88 %, of the radius between its vertices. Circles that contain a
pole are refused. Areas given only by geocodes cannot be drawn: they are counted in a warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rahat.geo.errors import GeometryError, SchemaError, TooLargeError, UnreadableFileError

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

    import shapely

#: XML namespace of CAP 1.2 documents.
CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
#: Largest CAP document read (bytes); checked before the XML is parsed.
MAX_CAP_BYTES = 5 * 1024**2
#: Most ``<info>`` blocks in one alert.
MAX_INFOS = 100
#: Most ``<area>`` blocks in one alert (all ``info`` blocks together).
MAX_AREAS = 10_000
#: Most polygon coordinate pairs in one alert.
MAX_POINTS = 500_000
#: Points of the polygon a CAP circle becomes.
CIRCLE_POINTS = 64
#: CAP severities; the index of each is its ``severity_class`` (Unknown = 0 ... Extreme = 4).
SEVERITIES = ("Unknown", "Minor", "Moderate", "Severe", "Extreme")
_DEFAULT_LANGUAGE = "en-US"


@dataclass(frozen=True)
class CapCircle:
    """A CAP circle and the polygon drawn for it.

    Parameters
    ----------
    lat, lon
        Centre in WGS 84 degrees.
    radius_km
        Radius in kilometres.
    polygon
        The :data:`CIRCLE_POINTS`-point geodesic polygon (lon/lat) approximating the circle.
    """

    lat: float
    lon: float
    radius_km: float
    polygon: shapely.Polygon


@dataclass(frozen=True)
class CapArea:
    """One ``<area>`` of an ``<info>`` block.

    Parameters
    ----------
    area_desc
        ``areaDesc``: the area's name as written by the sender.
    polygons
        The ``<polygon>`` rings as shapely polygons in lon/lat.
    circles
        The ``<circle>`` elements.
    geocodes
        ``(valueName, value)`` of each ``<geocode>``.
    """

    area_desc: str
    polygons: tuple[shapely.Polygon, ...]
    circles: tuple[CapCircle, ...]
    geocodes: tuple[tuple[str, str], ...]

    @property
    def footprints(self) -> tuple[shapely.Polygon, ...]:
        """Return the drawable shapes: the polygons, then the circles' polygons."""
        return (*self.polygons, *(c.polygon for c in self.circles))


@dataclass(frozen=True)
class CapInfo:
    """One ``<info>`` block: an event in one language, with its areas.

    Parameters
    ----------
    language
        RFC 3066 language code as written (``en-US``, the CAP default, when left out).
    event, urgency, certainty
        The CAP values as written (``urgency``: Immediate, Expected, ...; ``certainty``:
        Observed, Likely, ...).
    severity
        One of :data:`SEVERITIES`.
    onset, effective, expires
        Timezone-aware times, ``None`` where the block leaves them out.
    headline
        The headline, if any.
    areas
        The ``<area>`` blocks, in document order.
    """

    language: str
    event: str
    urgency: str
    severity: str
    certainty: str
    onset: datetime | None
    effective: datetime | None
    expires: datetime | None
    headline: str | None
    areas: tuple[CapArea, ...]

    @property
    def severity_class(self) -> int:
        """Return the severity as a number: Unknown 0, Minor 1, Moderate 2, Severe 3, Extreme 4."""
        return SEVERITIES.index(self.severity)


@dataclass(frozen=True)
class CapAlert:
    """A parsed CAP 1.2 ``<alert>``.

    Parameters
    ----------
    source
        The file (or other origin) the alert was read from.
    identifier, sender, status, msg_type, scope
        ``identifier``, ``sender``, ``status`` (Actual, Exercise, System, Test, Draft),
        ``msgType`` (Alert, Update, Cancel, Ack, Error) and ``scope`` as written.
    sent
        The ``sent`` time, timezone-aware.
    infos
        The ``<info>`` blocks, in document order (possibly none).
    references
        The identifiers of the earlier alerts an ``Update`` or ``Cancel`` refers to (CAP's
        ``<references>``: whitespace-separated ``sender,identifier,sent`` triples).
    """

    source: str
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    scope: str
    infos: tuple[CapInfo, ...]
    references: tuple[str, ...] = ()


def _tag(name: str) -> str:
    return f"{{{CAP_NAMESPACE}}}{name}"


def _text(el: Element, name: str, where: str, source: str, *, required: bool = True) -> str | None:
    child = el.find(_tag(name))
    text = (child.text or "").strip() if child is not None else ""
    if not text and required:
        raise SchemaError(
            f"{where} has no <{name}>, which CAP 1.2 requires; ask the sender for a complete alert",
            source=source,
        )
    return text or None


def _required(el: Element, name: str, where: str, source: str) -> str:
    text = _text(el, name, where, source)
    assert text is not None
    return text


def _time(el: Element, name: str, where: str, source: str, *, required: bool = False) -> Any:
    text = _text(el, name, where, source, required=required)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise SchemaError(
            f"{where}: <{name}> {text!r} is not a CAP date-time with a time zone (like "
            "2002-05-24T16:49:00-07:00)",
            source=source,
        )
    return value


def _too_many(what: str, n: int, limit: int, source: str) -> TooLargeError:
    return TooLargeError(
        f"the alert has {n:,} {what}, more than the limit of {limit:,}; split it into several "
        "alerts or simplify its areas",
        source=source,
    )


def _pair(text: str, where: str, source: str) -> tuple[float, float]:
    """Return CAP ``"lat,lon"`` as ``(lon, lat)``, checking it is a WGS 84 position."""
    parts = text.split(",")
    try:
        lat, lon = (float(p) for p in parts)
    except ValueError:
        lat = lon = math.nan
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise GeometryError(
            f"{where}: {text!r} is not a coordinate pair; CAP writes 'latitude,longitude' in "
            "WGS 84 degrees, pairs separated by spaces",
            source=source,
        )
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise GeometryError(
            f"{where}: coordinate pair {text!r} is out of range (latitude must be within "
            "-90..90, longitude within -180..180); CAP pairs are 'latitude,longitude' in WGS 84, "
            "check that they are not written longitude first",
            source=source,
        )
    return lon, lat


def _polygon(text: str, where: str, source: str) -> shapely.Polygon:
    import shapely

    coords = [_pair(p, where, source) for p in text.split()]
    if len(coords) < 4:
        raise GeometryError(
            f"{where}: the polygon has {len(coords)} coordinate pairs; CAP 1.2 requires at "
            "least 4, the last equal to the first (a closed ring)",
            source=source,
        )
    if coords[0] != coords[-1]:
        raise GeometryError(
            f"{where}: the polygon is not closed (it starts at {text.split()[0]} and ends at "
            f"{text.split()[-1]}); CAP 1.2 requires the last pair to repeat the first",
            source=source,
        )
    return shapely.Polygon(coords)


def _circle(text: str, where: str, source: str) -> CapCircle:
    import numpy as np
    import shapely
    from pyproj import Geod

    parts = text.split()
    try:
        radius = float(parts[1]) if len(parts) == 2 else math.nan
    except ValueError:
        radius = math.nan
    if not (math.isfinite(radius) and radius > 0):
        raise GeometryError(
            f"{where}: circle {text!r} is not 'latitude,longitude radius' with a radius in "
            "kilometres above 0",
            source=source,
        )
    lon, lat = _pair(parts[0], where, source)
    geod = Geod(ellps="WGS84")
    metres = radius * 1000.0
    to_pole = min(geod.inv(lon, lat, lon, pole)[2] for pole in (90.0, -90.0))
    if metres >= to_pole:
        raise GeometryError(
            f"{where}: circle {text!r} contains a pole and cannot be drawn; send it as a polygon",
            source=source,
        )
    n = CIRCLE_POINTS
    azimuths = np.linspace(0.0, 360.0, n, endpoint=False)
    lons, lats, _ = geod.fwd(np.full(n, lon), np.full(n, lat), azimuths, np.full(n, metres))
    lons = lon + (np.asarray(lons) - lon + 180.0) % 360.0 - 180.0  # no jump at 180 degrees
    return CapCircle(lat, lon, radius, shapely.Polygon(np.column_stack([lons, lats])))


class _Counts:
    """Running totals checked against the parse limits."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.areas = 0
        self.points = 0

    def add(self, areas: int = 0, points: int = 0) -> None:
        self.areas += areas
        self.points += points
        if self.areas > MAX_AREAS:
            raise _too_many("areas", self.areas, MAX_AREAS, self.source)
        if self.points > MAX_POINTS:
            raise _too_many("polygon points", self.points, MAX_POINTS, self.source)


def _area(el: Element, where: str, counts: _Counts) -> CapArea:
    source = counts.source
    desc = _required(el, "areaDesc", where, source)
    where = f"{where} ({desc!r})"
    polygons = []
    for ring in el.findall(_tag("polygon")):
        text = (ring.text or "").strip()
        counts.add(points=len(text.split()))
        polygons.append(_polygon(text, where, source))
    circles = tuple(
        _circle((c.text or "").strip(), where, source) for c in el.findall(_tag("circle"))
    )
    geocodes = tuple(
        (
            _required(g, "valueName", f"{where} geocode", source),
            _required(g, "value", where, source),
        )
        for g in el.findall(_tag("geocode"))
    )
    return CapArea(desc, tuple(polygons), circles, geocodes)


def _info(el: Element, where: str, counts: _Counts) -> CapInfo:
    source = counts.source
    severity = _required(el, "severity", where, source)
    if severity not in SEVERITIES:
        raise SchemaError(
            f"{where}: severity {severity!r} is not a CAP severity; use one of "
            f"{', '.join(SEVERITIES)}",
            source=source,
        )
    area_els = el.findall(_tag("area"))
    counts.add(areas=len(area_els))
    return CapInfo(
        language=_text(el, "language", where, source, required=False) or _DEFAULT_LANGUAGE,
        event=_required(el, "event", where, source),
        urgency=_required(el, "urgency", where, source),
        severity=severity,
        certainty=_required(el, "certainty", where, source),
        onset=_time(el, "onset", where, source),
        effective=_time(el, "effective", where, source),
        expires=_time(el, "expires", where, source),
        headline=_text(el, "headline", where, source, required=False),
        areas=tuple(_area(a, f"{where} area {j + 1}", counts) for j, a in enumerate(area_els)),
    )


def _root(data: bytes, source: str) -> Element:
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        root: Element = fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException:
        raise UnreadableFileError(
            "holds a DTD or entity declarations (<!DOCTYPE ...>, <!ENTITY ...>); CAP alerts "
            "have none and Rahat refuses them (entity expansion and external references are "
            "unsafe); ask the sender for the plain alert",
            source=source,
        ) from None
    except ParseError as exc:
        raise UnreadableFileError(
            f"is not well-formed XML ({exc}); the file is truncated or corrupt, ask the sender "
            "for the CAP alert again",
            source=source,
        ) from None
    if root.tag != _tag("alert"):
        namespace, _, local = root.tag[1:].rpartition("}") if root.tag[:1] == "{" else ("", "", "")
        local = local or root.tag
        found = f"<{local}> in namespace {namespace!r}" if namespace else f"<{local}>"
        raise SchemaError(
            f"is not a CAP 1.2 alert: its root element is {found}, not <alert> in namespace "
            f"{CAP_NAMESPACE!r}; Rahat reads CAP 1.2 only",
            source=source,
        )
    return root


def _check_size(size: int, max_bytes: int, source: str | Path) -> None:
    if size > max_bytes:
        raise TooLargeError(
            f"is {size:,} bytes, more than the limit of {max_bytes:,} for a CAP alert; ask the "
            "sender for the alert alone",
            source=source,
        )


def parse_cap(data: bytes, *, source: str | Path, max_bytes: int = MAX_CAP_BYTES) -> CapAlert:
    """Parse a CAP 1.2 document safely.

    Parameters
    ----------
    data
        The XML bytes.
    source
        The file (or other origin) named in error messages.
    max_bytes
        Largest document accepted; checked before parsing.

    Returns
    -------
    CapAlert

    Raises
    ------
    rahat.geo.errors.TooLargeError
        Above ``max_bytes``, or more than :data:`MAX_INFOS` infos, :data:`MAX_AREAS` areas or
        :data:`MAX_POINTS` polygon points.
    rahat.geo.errors.UnreadableFileError
        Not well-formed XML, or XML with a DTD / entities.
    rahat.geo.errors.SchemaError
        Not a CAP 1.2 ``<alert>``, a required element missing, a bad severity or date-time.
    rahat.geo.errors.GeometryError
        A malformed, open or too short polygon, a bad circle, coordinates out of range.

    Examples
    --------
    >>> xml = (
    ...     b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>A1</identifier>'
    ...     b"<sender>met@example.org</sender><sent>2024-07-01T06:00:00+05:00</sent>"
    ...     b"<status>Actual</status><msgType>Alert</msgType><scope>Public</scope>"
    ...     b"<info><category>Met</category><event>Flood</event><urgency>Expected</urgency>"
    ...     b"<severity>Severe</severity><certainty>Likely</certainty><area>"
    ...     b"<areaDesc>Sukkur</areaDesc><polygon>27,68 27,69 28,69 27,68</polygon>"
    ...     b"</area></info></alert>"
    ... )
    >>> alert = parse_cap(xml, source="alert.xml")
    >>> info = alert.infos[0]
    >>> info.event, info.severity_class, info.areas[0].polygons[0].bounds
    ('Flood', 3, (68.0, 27.0, 69.0, 28.0))
    """
    source = str(source)
    _check_size(len(data), max_bytes, source)
    root = _root(data, source)
    info_els = root.findall(_tag("info"))
    if len(info_els) > MAX_INFOS:
        raise _too_many("info blocks", len(info_els), MAX_INFOS, source)
    counts = _Counts(source)
    return CapAlert(
        source=source,
        identifier=_required(root, "identifier", "the alert", source),
        sender=_required(root, "sender", "the alert", source),
        sent=_time(root, "sent", "the alert", source, required=True),
        status=_required(root, "status", "the alert", source),
        msg_type=_required(root, "msgType", "the alert", source),
        scope=_required(root, "scope", "the alert", source),
        infos=tuple(_info(el, f"info {i + 1}", counts) for i, el in enumerate(info_els)),
        references=_references(root, source),
    )


def _references(root: Element, source: str) -> tuple[str, ...]:
    """Identifiers named by ``<references>`` (``sender,identifier,sent`` triples)."""
    text = _text(root, "references", "the alert", source, required=False) or ""
    out = []
    for triple in text.split():
        parts = triple.split(",")
        if len(parts) != 3 or not parts[1]:
            raise SchemaError(
                f"the alert: <references> holds '{triple[:80]}', not sender,identifier,sent",
                source=source,
            )
        out.append(parts[1])
    if len(out) > MAX_INFOS:
        raise _too_many("references", len(out), MAX_INFOS, source)
    return tuple(out)


def read_cap(path: str | Path, *, max_bytes: int = MAX_CAP_BYTES) -> CapAlert:
    """Read and parse a CAP 1.2 file, refusing a file above ``max_bytes`` before reading it.

    Raises
    ------
    rahat.geo.errors.InputError
        As :func:`parse_cap`; :class:`~rahat.geo.errors.UnreadableFileError` if the file
        cannot be read.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        _check_size(size, max_bytes, path)
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFileError(f"cannot be read ({exc.strerror})", source=path) from None
    return parse_cap(data, source=path, max_bytes=max_bytes)
