"""Uploads are checked for overlap with the registry, GeoParquet ones Rahat wrote included."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from conftest import Service, backends, make_settings, start_service

from rahat.api.service.extent import registry_extent

ANTARCTIC = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[10, -80], [11, -80], [11, -79], [10, -79], [10, -80]]],
            },
        }
    ],
}


@pytest.fixture(params=backends())
def served(
    request: pytest.FixtureRequest, tmp_path: Path, registry_file: Path
) -> Iterator[Service]:
    yield from start_service(make_settings(tmp_path, request.param, registry_path=registry_file))


def test_an_upload_far_from_a_rahat_registry_is_refused(served: Service) -> None:
    r = served.post(
        "agency",
        "/hazards",
        files={"file": ("antarctic.geojson", json.dumps(ANTARCTIC).encode())},
        data={"kind": "flood_extent"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["type"] == "urn:rahat:problem:no-overlap"
    assert not list(served.app.state.settings.hazards_dir.iterdir())


def test_extent_of_a_rahat_registry_comes_from_its_metadata(registry_file: Path) -> None:
    bbox = registry_extent(registry_file)
    assert bbox is not None
    assert 60 < bbox[0] < bbox[2] < 78 and 23 < bbox[1] < bbox[3] < 38


def test_extent_of_wkb_geoparquet_without_bbox(tmp_path: Path) -> None:
    points = shapely.points([[67.0, 25.0], [70.5, 30.0], [68.0, 27.5]])
    table = pa.table({"household_id": [1, 2, 3], "geometry": shapely.to_wkb(points)})
    geo = {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": {}}}
    table = table.replace_schema_metadata({b"geo": json.dumps(geo).encode()})
    pq.write_table(table, tmp_path / "registry.parquet")
    assert registry_extent(tmp_path / "registry.parquet") == (67.0, 25.0, 70.5, 30.0)
