"""Households entering and leaving a footprint between two versions (issue 10, item 23)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from rahat.engine.footprint_changes import footprint_changes
from rahat.geo.hazards import read_hazard
from rahat.geo.registry.model import Registry


def _registry(n: int = 4000, seed: int = 5) -> Registry:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "household_id": rng.permutation(np.arange(1, n + 1, dtype=np.int64)) * 13,
            "lon": rng.uniform(67.0, 69.0, n),
            "lat": rng.uniform(25.0, 27.0, n),
            "province": pd.Categorical(["Sindh"] * n),
            "district": pd.Categorical(rng.choice(["Dadu", "Larkana", "Jamshoro"], n)),
        }
    )
    return Registry.from_frame(frame)


def _footprint(path: Path, polygons: list[shapely.Polygon], values: list[float]) -> Path:
    features = [
        {"type": "Feature", "geometry": shapely.geometry.mapping(p), "properties": {"value": v}}
        for p, v in zip(polygons, values, strict=True)
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_entered_left_and_stayed_equal_shapely(tmp_path: Path) -> None:
    registry = _registry()
    day3 = [shapely.box(67.2, 25.2, 68.2, 26.2), shapely.box(68.5, 26.5, 68.9, 26.9)]
    day7 = [shapely.box(67.7, 25.2, 68.7, 26.6), shapely.box(68.5, 26.5, 68.9, 26.9)]
    # The second day-7 polygon holds 0.2: below the flooded class, so it covers nobody.
    old = read_hazard(
        _footprint(tmp_path / "d3.geojson", day3, [1, 1]),
        kind="flood_extent",
        intensity_field="value",
    )
    new = read_hazard(
        _footprint(tmp_path / "d7.geojson", day7, [1, 0.2]),
        kind="flood_extent",
        intensity_field="value",
    )
    changes = footprint_changes(registry, old, new)

    lon, lat = registry.lon, registry.lat
    in_old = shapely.intersects_xy(shapely.union_all(day3), lon, lat)
    in_new = shapely.intersects_xy(day7[0], lon, lat)
    ids = registry.array("household_id")
    expected = {
        "entered": set(ids[in_new & ~in_old]),
        "left": set(ids[in_old & ~in_new]),
        "stayed": set(ids[in_old & in_new]),
    }
    got = changes.households.groupby("status")["household_id"].apply(set).to_dict()
    assert got == expected
    assert all(expected.values())  # every status occurs
    assert changes.totals["old"] == in_old.sum() and changes.totals["new"] == in_new.sum()
    assert changes.households["household_id"].is_monotonic_increasing
    table = changes.by_district.set_index("district")
    districts = registry.frame["district"].astype(str).to_numpy()
    for status, members in expected.items():
        assert changes.totals[status] == len(members)
        counts = pd.Series(districts[np.isin(ids, list(members))]).value_counts()
        assert table[status].to_dict() == {d: counts.get(d, 0) for d in table.index}
