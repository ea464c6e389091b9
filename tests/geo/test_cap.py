"""CAP 1.2 alerts read as hazard layers: geometry, severity classes, and hostile or broken XML."""

from __future__ import annotations

from pathlib import Path

import pytest
import shapely
from pyproj import Geod

from rahat.geo.errors import (
    EmptyDataError,
    GeometryError,
    InputError,
    SchemaError,
    TooLargeError,
    UnreadableFileError,
)
from rahat.geo.hazards import HazardLimits, read_hazard
from rahat.geo.hazards import cap as cap_module
from rahat.geo.hazards.cap import SEVERITIES, parse_cap
from rahat.geo.hazards.cap_layer import SEVERITY_CLASSES, cap_footprint
from rahat.geo.hazards.sniff import sniff_format

DATA = Path(__file__).parent / "data" / "cap"
NS = "urn:oasis:names:tc:emergency:cap:1.2"
SQUARE = "27.5,68.5 27.5,69.0 28.0,69.1 28.0,68.5 27.5,68.5"


def alert_xml(
    *,
    head: str = "<identifier>T-1</identifier>",
    info: str | None = None,
    area: str = f"<polygon>{SQUARE}</polygon>",
    severity: str = "Severe",
    event: str = "<event>Flood Warning</event>",
    ns: str = NS,
    root: str = "alert",
    prolog: str = "",
) -> bytes:
    """A minimal CAP alert; each argument replaces one part of it."""
    if info is None:
        info = (
            f"<info><category>Met</category>{event}<urgency>Immediate</urgency>"
            f"<severity>{severity}</severity><certainty>Likely</certainty>"
            f"<area><areaDesc>Sukkur</areaDesc>{area}</area></info>"
        )
    return (
        f'{prolog}<{root} xmlns="{ns}">{head}<sender>met@example.org</sender>'
        "<sent>2022-08-26T06:00:00+05:00</sent><status>Actual</status><msgType>Alert</msgType>"
        f"<scope>Public</scope>{info}</{root}>"
    ).encode()


def refused(path: Path, error: type[InputError], nothing_written, **kw) -> InputError:
    """Read ``path`` with ``read_hazard`` expecting ``error``, naming the file; nothing written."""
    with nothing_written(path.parent), pytest.raises(error) as info:
        read_hazard(path, kind="generic", **kw)
    assert str(path) in str(info.value)
    return info.value


def parse_refused(data: bytes, error: type[InputError]) -> str:
    with pytest.raises(error) as info:
        parse_cap(data, source="alert.xml")
    message = str(info.value)
    assert message.startswith("alert.xml: ")
    return message


def test_polygon_is_latitude_first(tmp_path):
    path = tmp_path / "alert.xml"
    path.write_bytes((DATA / "flood_polygon.xml").read_bytes())
    assert sniff_format(path) == "cap"
    layer = read_hazard(path, kind="generic", name="pmd")
    assert layer.source_format == "cap"
    assert layer.crs.to_epsg() == 4326
    frame = layer.vector
    assert len(frame) == 1
    footprint = frame.geometry.iloc[0]
    assert footprint.contains(shapely.Point(68.75, 27.75))  # lon, lat
    assert not footprint.contains(shapely.Point(27.75, 68.75))
    row = frame.iloc[0]
    assert (row.event, row.severity, row.urgency, row.certainty) == (
        "Flood Warning",
        "Severe",
        "Immediate",
        "Likely",
    )
    assert (row.severity_class, row.value) == (3, 3.0)
    assert (row.msg_type, row.onset, row.expires) == (
        "Alert",
        "2022-08-26T09:00:00+05:00",
        "2022-08-28T18:00:00+05:00",
    )
    start, end = layer.valid_time
    assert (start.isoformat(), end.isoformat()) == (
        "2022-08-26T04:00:00+00:00",
        "2022-08-28T13:00:00+00:00",
    )
    assert layer.warnings == ()


def test_circle_radius_is_geodesic_kilometres():
    alert = parse_cap((DATA / "flood_circle.xml").read_bytes(), source="flood_circle.xml")
    circle = alert.infos[0].areas[0].circles[0]
    assert (circle.lat, circle.lon, circle.radius_km) == (27.70, 68.86, 25.0)
    assert len(circle.polygon.exterior.coords) == cap_module.CIRCLE_POINTS + 1
    geod = Geod(ellps="WGS84")
    for azimuth in range(0, 360, 15):
        for share, inside in ((0.9, True), (1.1, False)):
            lon, lat, _ = geod.fwd(68.86, 27.70, azimuth, share * 25_000.0)
            assert circle.polygon.contains(shapely.Point(lon, lat)) is inside, (azimuth, share)


@pytest.mark.parametrize(
    ("severity", "code"),
    [("Unknown", 0), ("Minor", 1), ("Moderate", 2), ("Severe", 3), ("Extreme", 4)],
)
def test_severity_class(tmp_path, severity, code):
    alert = parse_cap(alert_xml(severity=severity), source="alert.xml")
    assert alert.infos[0].severity_class == code
    path = tmp_path / "alert.xml"
    path.write_bytes(alert_xml(severity=severity))
    layer = read_hazard(path, kind="generic", classes=SEVERITY_CLASSES)
    assert layer.classes.labels == ("unknown", "minor", "moderate", "severe", "extreme")
    assert layer.classes.classify(layer.vector["value"].to_numpy()).tolist() == [code]
    assert layer.classes.labels[code] == severity.lower()
    assert any("severity Unknown" in w for w in layer.warnings) is (code == 0)


def test_unknown_severity_is_refused():
    message = parse_refused(alert_xml(severity="Catastrophic"), SchemaError)
    assert "'Catastrophic' is not a CAP severity" in message
    assert ", ".join(SEVERITIES) in message


def test_multiple_infos_and_areas(tmp_path, nothing_written):
    alert = parse_cap((DATA / "multi.xml").read_bytes(), source="multi.xml")
    assert [i.language for i in alert.infos] == ["en-US", "ur-PK", "en-US"]
    assert [len(i.areas) for i in alert.infos] == [3, 1, 2]
    path = tmp_path / "multi.xml"
    path.write_bytes((DATA / "multi.xml").read_bytes())
    with nothing_written(tmp_path):
        layer = read_hazard(path, kind="generic")
    frame = layer.vector
    assert frame["area_desc"].tolist() == ["Sukkur riverine belt", "Around Rohri", "Larkana"]
    assert frame["event"].tolist() == ["Flood Warning", "Flood Warning", "Heavy Rain Advisory"]
    assert frame["severity_class"].tolist() == [3, 3, 1]
    assert set(frame["language"]) == {"en-US"}
    language, geocodes = layer.warnings
    assert language == (
        "the alert has info blocks in 2 languages (en-US, ur-PK); used the 2 in en-US"
    )
    assert geocodes.startswith("2 areas have only geocodes")
    assert "'Khairpur district' (PCODE=PK603)" in geocodes
    assert "'Shikarpur district' (PCODE=PK605)" in geocodes
    rohri = frame.geometry.iloc[1]
    assert rohri.contains(shapely.Point(68.90, 27.69))


def test_all_languages_used_when_none_is_english():
    xml = (DATA / "multi.xml").read_bytes().replace(b"en-US", b"fr-FR")
    alert = parse_cap(xml, source="multi.xml")
    warnings: list[str] = []
    frame = cap_footprint(alert, warnings)
    assert len(frame) == 4
    assert warnings[0] == (
        "the alert has no info block in English; used all 3 blocks, in fr-FR, ur-PK"
    )


def test_geocode_only_areas_are_counted_not_dropped(tmp_path, nothing_written):
    alert = parse_cap((DATA / "geocode_only.xml").read_bytes(), source="geocode_only.xml")
    area = alert.infos[0].areas[0]
    assert (area.polygons, area.circles, area.geocodes) == ((), (), (("PCODE", "PK603"),))
    warnings: list[str] = []
    assert len(cap_footprint(alert, warnings)) == 0
    assert warnings == [
        "1 areas have only geocodes and cannot be drawn, they are left out: 'Khairpur "
        "district' (PCODE=PK603); send them as polygons to include them"
    ]
    path = tmp_path / "watch.xml"
    path.write_bytes((DATA / "geocode_only.xml").read_bytes())
    err = refused(path, EmptyDataError, nothing_written)
    assert "1 areas have only geocodes" in str(err)


def test_cancel_keeps_msg_type_and_expiry():
    alert = parse_cap(
        alert_xml().replace(b"<msgType>Alert", b"<msgType>Cancel"), source="alert.xml"
    )
    assert alert.msg_type == "Cancel"
    warnings: list[str] = []
    frame = cap_footprint(alert, warnings)
    assert frame["msg_type"].tolist() == ["Cancel"]
    assert frame["expires"].tolist() == [None]
    assert warnings[0].startswith("msgType is Cancel")


def test_malformed_xml(tmp_path, nothing_written):
    path = tmp_path / "alert.xml"
    path.write_bytes(alert_xml()[:-20])
    err = refused(path, UnreadableFileError, nothing_written)
    assert "is not well-formed XML (" in str(err)


@pytest.mark.parametrize(
    ("xml", "found"),
    [
        (alert_xml(ns="urn:oasis:names:tc:emergency:cap:1.1"), "<alert> in namespace 'urn:oa"),
        (alert_xml(root="warning"), f"<warning> in namespace '{NS}'"),
        (alert_xml().replace(f' xmlns="{NS}"'.encode(), b""), "root element is <alert>, not"),
    ],
)
def test_wrong_namespace_or_root(tmp_path, nothing_written, xml, found):
    path = tmp_path / "alert.xml"
    path.write_bytes(xml)
    assert sniff_format(path) == "cap"
    err = refused(path, SchemaError, nothing_written)
    assert "is not a CAP 1.2 alert" in str(err)
    assert found in str(err)


def test_other_xml_is_not_taken_for_cap(tmp_path):
    path = tmp_path / "zones.kml"
    path.write_bytes(
        b'<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
        b"<alerts>2</alerts></Document></kml>"
    )
    assert sniff_format(path) == "unknown"


@pytest.mark.parametrize(
    ("xml", "missing"),
    [
        (alert_xml(head=""), "the alert has no <identifier>"),
        (alert_xml(event=""), "info 1 has no <event>"),
        (alert_xml(area="").replace(b"<areaDesc>Sukkur</areaDesc>", b""), "has no <areaDesc>"),
    ],
)
def test_missing_required_elements(xml, missing):
    message = parse_refused(xml, SchemaError)
    assert missing in message
    assert "CAP 1.2 requires" in message


def test_time_without_zone_is_refused():
    xml = alert_xml().replace(b"06:00:00+05:00", b"06:00:00")
    assert "is not a CAP date-time with a time zone" in parse_refused(xml, SchemaError)


def test_oversize_refused_before_parsing(tmp_path, monkeypatch, nothing_written):
    import defusedxml.ElementTree

    def no_parse(*args, **kwargs):
        raise AssertionError("parsed an oversize file")

    monkeypatch.setattr(defusedxml.ElementTree, "fromstring", no_parse)
    xml = alert_xml()
    with pytest.raises(TooLargeError, match=f"is {len(xml):,} bytes, more than the limit of 100"):
        parse_cap(xml, source="alert.xml", max_bytes=100)
    path = tmp_path / "alert.xml"
    path.write_bytes(xml)

    def no_read(self):
        raise AssertionError("read an oversize file")

    monkeypatch.setattr(Path, "read_bytes", no_read)
    small = HazardLimits(max_vector_bytes=len(xml) - 1)
    refused(path, TooLargeError, nothing_written, limits=small)


@pytest.mark.parametrize(
    ("limit", "value", "what"),
    [
        ("MAX_INFOS", 0, "1 info blocks"),
        ("MAX_AREAS", 0, "1 areas"),
        ("MAX_POINTS", 4, "5 polygon points"),
    ],
)
def test_count_limits(monkeypatch, limit, value, what):
    monkeypatch.setattr(cap_module, limit, value)
    message = parse_refused(alert_xml(), TooLargeError)
    assert f"the alert has {what}, more than the limit of {value}" in message


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    + "]>"
).replace("&lol0;", "&lol;")


@pytest.mark.parametrize(
    "prolog",
    [
        BILLION_LAUGHS,
        '<!DOCTYPE alert [<!ENTITY passwd SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE alert SYSTEM "http://example.org/cap.dtd">',
    ],
    ids=["billion-laughs", "external-entity", "dtd"],
)
def test_dtd_and_entities_refused(tmp_path, nothing_written, prolog):
    entity = "&lol9;" if "lol9" in prolog else "&passwd;" if "passwd" in prolog else ""
    xml = alert_xml(prolog=prolog, head=f"<identifier>T-1{entity}</identifier>")
    message = parse_refused(xml, UnreadableFileError)
    assert "refuses them" in message
    assert "root:" not in message
    path = tmp_path / "alert.xml"
    path.write_bytes(xml)
    refused(path, UnreadableFileError, nothing_written)


@pytest.mark.parametrize(
    ("polygon", "expected"),
    [
        ("27.5,68.5 27.5,69.0 27.5,68.5", "has 3 coordinate pairs; CAP 1.2 requires at least 4"),
        ("27.5,68.5 27.5,69.0 28.0,69.1 28.0,68.5", "the polygon is not closed"),
        ("27.5,68.5 27.5,69.0 28.0;69.1 27.5,68.5", "'28.0;69.1' is not a coordinate pair"),
        ("95,68.5 95,69.0 28.0,69.1 95,68.5", "'95,68.5' is out of range"),
        ("27.5,190 27.5,69.0 28.0,69.1 27.5,190", "'27.5,190' is out of range"),
    ],
)
def test_bad_polygons(polygon, expected):
    xml = alert_xml(area=f"<polygon>{polygon}</polygon>")
    message = parse_refused(xml, GeometryError)
    assert "info 1 area 1 ('Sukkur')" in message
    assert expected in message


@pytest.mark.parametrize(
    ("circle", "expected"),
    [
        ("27.7,68.86 0", "with a radius in kilometres above 0"),
        ("27.7,68.86", "with a radius in kilometres above 0"),
        ("88.0,68.86 500", "contains a pole"),
        ("127.7,68.86 5", "out of range"),
    ],
)
def test_bad_circles(circle, expected):
    assert expected in parse_refused(alert_xml(area=f"<circle>{circle}</circle>"), GeometryError)


def test_circle_across_the_antimeridian_stays_in_one_piece():
    alert = parse_cap(alert_xml(area="<circle>-17.0,179.9 50</circle>"), source="fiji.xml")
    polygon = alert.infos[0].areas[0].circles[0].polygon
    assert polygon.is_valid
    west, _, east, _ = polygon.bounds
    assert east - west < 2.0
