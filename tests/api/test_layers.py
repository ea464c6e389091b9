"""Map layers of the planners' page: boundaries, run density grids and hazard outlines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import rasterio
import shapely
from conftest import (
    REAL_HAZARD,
    Service,
    add_finished_run,
    caseload_table,
    make_settings,
    start_service,
)
from pyproj import Transformer
from shapely.geometry import Point, shape

from rahat.api.service.density import BASE_CELL, CELL_SIZES
from rahat.geo.boundaries import districts, sindh_tehsils
from rahat.geo.units import Level, gazetteer

SAMPLE_TIF = Path(__file__).resolve().parents[2] / "data/samples/flood_depth_sample.tif"
K = 10


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service on SQLite: the layers read files, not the database, whose access checks
    (the same as summaries' and hazards') are tested on both backends elsewhere."""
    yield from start_service(make_settings(tmp_path_factory.mktemp("layers")))


# -- boundaries -------------------------------------------------------------------------------
def test_district_boundaries_carry_the_gazetteer_codes_and_are_small(service: Service) -> None:
    r = service.get("planner", "/boundaries/district")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/geo+json"
    assert "max-age=86400" in r.headers["cache-control"]
    assert len(r.content) < 600_000
    features = r.json()["features"]
    frame = districts()
    expected = gazetteer().codes_of(frame[["province", "district", "district_pcode"]])
    assert len(features) == 156
    assert sorted(f["properties"]["code"] for f in features) == sorted(expected[Level.DISTRICT])
    by_code = {f["properties"]["code"]: f for f in features}
    dadu = by_code["PK703"]
    assert dadu["properties"]["name"] == "Dadu" and dadu["properties"]["province"] == "Sindh"
    geometry = shape(dadu["geometry"])
    assert geometry.is_valid and geometry.contains(Point(67.5, 26.75))
    # 4 decimals at most in every coordinate
    coordinates = shapely.get_coordinates(shapely.from_geojson(json.dumps(dadu["geometry"])))
    assert np.array_equal(coordinates, np.round(coordinates, 4))
    headers = {**service.headers("ngo"), "If-None-Match": r.headers["etag"]}
    again = service.client.get("/boundaries/district", headers=headers)
    assert again.status_code == 304


def test_tehsil_and_province_boundaries(service: Service) -> None:
    tehsils = service.get("agency", "/boundaries/tehsil").json()["features"]
    assert sorted(f["properties"]["code"] for f in tehsils) == sorted(
        sindh_tehsils()["tehsil_pcode"]
    )
    johi = next(f["properties"] for f in tehsils if f["properties"]["code"] == "PK70302")
    assert johi == {
        "code": "PK70302",
        "name": "Johi",
        "province": "Sindh",
        "district": "Dadu",
        "district_code": "PK703",
    }
    provinces = service.get("ngo", "/boundaries/province").json()["features"]
    assert {f["properties"]["code"] for f in provinces} >= {"PK-SD", "PK-PB", "PK-KP"}
    assert service.get("agency", "/boundaries/country").status_code == 422


def test_layers_need_a_key(service: Service) -> None:
    assert service.get(None, "/boundaries/district").status_code == 401
    assert service.get(None, f"/runs/{service.run_id}/grid").status_code == 401
    assert service.get(None, f"/hazards/{service.hazard_id}/outline").status_code == 401


# -- density grids ----------------------------------------------------------------------------
def _run(service: Service, cells: list[tuple[float, float, int]], **eligible: int) -> str:
    """A run of the agency whose selected households fill ``cells`` ((lon, lat, n) each).

    The other households of the test caseload are not selected; ``eligible=n`` makes only the
    first ``n`` households eligible (the others: as selected).
    """
    table = caseload_table()
    n = table.num_rows
    lon = np.full(n, 67.9)
    lat = np.full(n, 26.9)
    selected = np.zeros(n, dtype=bool)
    row = 0
    for x, y, count in cells:
        lon[row : row + count], lat[row : row + count] = x, y
        selected[row : row + count] = True
        row += count
    chosen = np.arange(n) < eligible["eligible"] if eligible else selected
    for name, values in (("lon", lon), ("lat", lat), ("selected", selected)):
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(values))
    table = table.set_column(
        table.schema.get_field_index("eligible"), "eligible", pa.array(chosen | selected)
    )
    return add_finished_run(service.app, table, service.org_ids["agency"])


def _cells(service: Service, who: str, run_id: str, cell: float) -> dict[tuple[float, float], int]:
    r = service.get(who, f"/runs/{run_id}/grid", params={"cell": cell})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["run_id"] == run_id and body["cell"] == cell
    return {(c["lon"], c["lat"]): c["selected"] for c in body["cells"]}


def _national(service: Service, run_id: str) -> int:
    totals = service.get("agency", f"/runs/{run_id}/summary").json()["totals"]
    assert not totals["suppressed"]
    return int(totals["selected"])


def test_a_cell_of_k_is_shown_and_a_cell_of_k_minus_1_is_not(service: Service) -> None:
    run_id = _run(
        service, [(67.2, 26.2, K), (67.7, 26.2, K - 1), (68.2, 26.2, 25), (68.7, 26.2, 9)]
    )
    national = _national(service, run_id)
    r = service.get("agency", f"/runs/{run_id}/grid", params={"cell": 0.5})
    assert r.json()["k"] == K and r.json()["withheld_cells"] == 2
    assert _cells(service, "agency", run_id, 0.5) == {(67.0, 26.0): K, (68.0, 26.0): 25}
    assert national - (K + 25) >= K
    assert _cells(service, "admin", run_id, 0.5) == {
        (67.0, 26.0): K,
        (67.5, 26.0): K - 1,
        (68.0, 26.0): 25,
        (68.5, 26.0): 9,
    }


def test_one_small_cell_alone_takes_the_smallest_other_cell_with_it(service: Service) -> None:
    run_id = _run(
        service, [(67.2, 26.2, K), (67.7, 26.2, K - 1), (68.2, 26.2, 30), (68.7, 26.2, 20)]
    )
    national = _national(service, run_id)
    shown = _cells(service, "agency", run_id, 0.5)
    assert shown == {(68.0, 26.0): 30, (68.5, 26.0): 20}
    hidden = national - sum(shown.values())
    assert hidden == 0 or hidden >= K


def test_no_cell_when_the_national_total_is_withheld(service: Service) -> None:
    # 3 households are not eligible: households - eligible = 3 < k blanks the national row
    n = caseload_table().num_rows
    run_id = _run(service, [(67.2, 26.2, n - 3)], eligible=n - 3)
    totals = service.get("agency", f"/runs/{run_id}/summary").json()["totals"]
    assert totals["suppressed"]
    body = service.get("agency", f"/runs/{run_id}/grid", params={"cell": 0.5}).json()
    assert body["cells"] == [] and body["withheld_cells"] == 1
    assert _cells(service, "admin", run_id, 0.5) == {(67.0, 26.0): n - 3}


def _reference(table: pa.Table, cell: float) -> dict[tuple[float, float], int]:
    """Selected households per cell by pandas (cells of ``cell`` nest the 0.05 base cells)."""
    frame = table.select(["lon", "lat", "selected"]).to_pandas()
    frame = frame[frame["selected"]]
    ratio = round(cell / BASE_CELL)
    ix = np.floor((frame["lon"] + 180) / BASE_CELL).astype("int64") // ratio
    iy = np.floor((frame["lat"] + 90) / BASE_CELL).astype("int64") // ratio
    counts = pd.DataFrame({"ix": ix, "iy": iy}).groupby(["ix", "iy"]).size()
    return {
        (round(-180 + x * cell, 6), round(-90 + y * cell, 6)): int(n)
        for (x, y), n in counts.items()
    }


def test_admin_counts_equal_a_pandas_groupby(service: Service) -> None:
    for cell in CELL_SIZES:
        shown = _cells(service, "admin", service.run_id, cell)
        assert shown == _reference(service.table, cell)
    # the grid is exactly the naive floor((lon + 180) / cell) on this data
    frame = service.table.select(["lon", "selected"]).to_pandas()
    lon = frame.loc[frame["selected"], "lon"]
    assert (np.floor((lon + 180) / 0.1) == np.floor((lon + 180) / 0.05) // 2).all()


def test_cells_of_nested_sizes_never_give_a_withheld_count_away(service: Service) -> None:
    rng = np.random.default_rng(7)
    table = caseload_table()
    n = table.num_rows
    lon, lat = 67.0 + rng.random(n) * 0.2, 26.0 + rng.random(n) * 0.2
    for name, values in (("lon", lon), ("lat", lat), ("selected", np.ones(n, dtype=bool))):
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(values))
    run_id = add_finished_run(service.app, table, service.org_ids["agency"])
    truth = {cell: _reference(table, cell) for cell in CELL_SIZES}
    shown = {cell: _cells(service, "agency", run_id, cell) for cell in CELL_SIZES}
    assert shown[0.05] and shown[0.05] != truth[0.05]  # some shown, some withheld
    for fine in CELL_SIZES:
        assert all(truth[fine][corner] == count for corner, count in shown[fine].items())
        for coarse in (c for c in CELL_SIZES if c > fine and round(c / fine, 6) % 1 == 0):
            for corner, total in truth[coarse].items():
                inside = sum(
                    count
                    for (x, y), count in shown[fine].items()
                    if corner[0] <= x < corner[0] + coarse - 1e-9
                    and corner[1] <= y < corner[1] + coarse - 1e-9
                )
                gap = total - inside
                assert gap >= K or (gap == 0 and corner in shown[coarse]), (fine, coarse, corner)


def test_grid_refusals(service: Service) -> None:
    url = f"/runs/{service.run_id}/grid"
    assert service.get("ngo", url).status_code == 403
    assert service.get("agency", url, params={"cell": 0.2}).status_code == 422
    assert service.get("agency", url, params={"cell": "wide"}).status_code == 422
    assert service.get("planner", url).status_code == 404  # the agency's run, not published
    assert service.get("agency", f"/runs/{service.planner_run_id}/grid").status_code == 404
    body = service.get("agency", url).json()
    assert set(body) == {"run_id", "cell", "k", "cells", "withheld_cells"}
    assert all(set(c) == {"lon", "lat", "selected"} for c in body["cells"])


# -- hazard outlines --------------------------------------------------------------------------
def _upload(service: Service, path: Path, kind: str) -> str:
    with path.open("rb") as fh:
        r = service.post("agency", "/hazards", files={"file": (path.name, fh)}, data={"kind": kind})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _outline(service: Service, hazard_id: str) -> shapely.Geometry:
    r = service.get("planner", f"/hazards/{hazard_id}/outline")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "FeatureCollection" and body["hazard_id"] == hazard_id
    (feature,) = body["features"]
    geometry = shape(feature["geometry"])
    assert geometry.geom_type in {"Polygon", "MultiPolygon"} and geometry.is_valid
    assert shapely.get_num_coordinates(geometry) == feature["properties"]["vertices"] <= 20_000
    return geometry


def test_raster_outline_covers_the_wet_cells_only(service: Service) -> None:
    geometry = _outline(service, _upload(service, SAMPLE_TIF, "flood_depth"))
    with rasterio.open(SAMPLE_TIF) as src:
        depth, transform, crs = src.read(1), src.transform, src.crs
    to_wgs84 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    dry = (depth < 0.1) | (depth == -9999)
    # dry cells (data below 0.1 m, class "dry") whose 8 neighbours are dry too lie outside
    padded = np.pad(dry, 1, constant_values=True)
    rows, cols = depth.shape
    around = np.all(
        [
            padded[1 + i : 1 + i + rows, 1 + j : 1 + j + cols]
            for i in (-1, 0, 1)
            for j in (-1, 0, 1)
        ],
        axis=0,
    )
    low = (depth >= 0.1) & (depth < 0.5)
    cases = [(np.argwhere(low)[0], True), (np.argwhere(depth >= 1.5)[0], True)]
    cases.append((np.argwhere(around & (depth >= 0))[0], False))
    for (row, col), inside in cases:
        x, y = transform @ (col + 0.5, row + 0.5)
        assert geometry.contains(Point(*to_wgs84.transform(x, y))) is inside, (row, col)


def test_a_big_raster_is_reduced_by_block_maximum(tmp_path: Path) -> None:
    from rasterio.transform import from_origin

    from rahat.api.service.layers import MAX_SIDE, outline
    from rahat.geo.hazards import read_hazard

    depth = np.zeros((2100, 2300), dtype=np.float32)
    depth[1234, 777] = 2.0  # one wet cell: nearest-neighbour decimation would lose it
    depth[5:9, 2290:2300] = 0.7  # wet cells in the last, partial block column
    path = tmp_path / "depth.tif"
    profile = {"driver": "GTiff", "width": 2300, "height": 2100, "count": 1, "dtype": "float32"}
    transform = from_origin(67.0, 27.0, 0.0005, 0.0005)
    with rasterio.open(path, "w", crs="EPSG:4326", transform=transform, **profile) as dst:
        dst.write(depth, 1)
    layer = read_hazard(path, kind="flood_depth")
    (feature,) = outline(layer)["features"]
    geometry = shape(feature["geometry"])
    for row, col in ((1234, 777), (6, 2295)):
        assert geometry.contains(Point(*(transform @ (col + 0.5, row + 0.5))))
    assert not geometry.contains(Point(*(transform @ (100.5, 100.5))))
    step = -(-2300 // MAX_SIDE)
    blocks = {(r // step, c // step) for r, c in np.argwhere(depth >= 0.1)}
    assert geometry.area == pytest.approx(len(blocks) * (step * 0.0005) ** 2, rel=1e-3)


def test_vector_outline_dissolves_the_features(service: Service) -> None:
    geometry = _outline(service, _upload(service, REAL_HAZARD, "flood_extent"))
    features = json.loads(REAL_HAZARD.read_text())["features"]
    polygons = [shape(f["geometry"]) for f in features]
    points = [p.representative_point() for p in polygons if p.geom_type == "Polygon"]
    assert points and all(geometry.buffer(1e-3).contains(p) for p in points)
    assert not geometry.contains(Point(74.3, 31.5))  # Lahore: not under a warning


def test_outline_refusals(service: Service) -> None:
    assert service.get("ngo", f"/hazards/{service.hazard_id}/outline").status_code == 403
    assert service.get("agency", "/hazards/nope/outline").status_code == 404
    # a hazard whose stored file cannot be read: a documented 400 problem, never a 5xx
    gone = service.get("agency", f"/hazards/{service.hazard_id}/outline")
    assert gone.status_code == 400, gone.text
    assert gone.headers["content-type"].startswith("application/problem+json")
    paths = service.client.get("/openapi.json").json()["paths"]
    assert "400" in paths["/hazards/{hazard_id}/outline"]["get"]["responses"]


@pytest.mark.parametrize("cell", [0.05, 0.5])
def test_counting_many_households_keeps_every_one(cell: float) -> None:
    from rahat.api.service.density import count_cells

    rng = np.random.default_rng(0)
    n = 2_000_000
    lon, lat = rng.uniform(61, 77.5, n), rng.uniform(24, 37, n)
    grid = count_cells(lon, lat, np.ones(n, dtype=bool)).coarsen(cell)
    assert int(grid.selected.sum()) == n
