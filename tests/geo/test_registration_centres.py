"""One approximate NSER registration centre per tehsil (:mod:`rahat.geo.registration_centres`)."""

from __future__ import annotations

import numpy as np
import shapely

from rahat.geo import boundaries
from rahat.geo.registration_centres import CENTRE_COLUMNS, registration_centres


def test_one_centre_per_sindh_tehsil_at_its_largest_settlement() -> None:
    centres = registration_centres()
    sindh = centres[centres["tehsil"] != ""]
    tehsils = boundaries.sindh_tehsils()
    assert sorted(sindh["tehsil"]) == sorted(tehsils["tehsil"])
    towns = boundaries.settlements()
    for tehsil, geom in zip(tehsils["tehsil"], tehsils.geometry, strict=True):
        centre = sindh[sindh["tehsil"] == tehsil].iloc[0]
        assert shapely.contains_xy(geom, centre["lon"], centre["lat"])
        inside = towns[shapely.contains_xy(geom, towns["lon"], towns["lat"])]
        expected = int(inside["population"].max()) if len(inside) else 0
        assert centre["population"] == expected


def test_elsewhere_one_centre_per_gazetteer_tehsil_inside_the_district() -> None:
    centres = registration_centres()
    assert tuple(centres.columns) == CENTRE_COLUMNS
    gazetteer = boundaries.tehsil_names().groupby(["province", "district"]).size()
    districts = boundaries.districts()
    towns = boundaries.settlements()
    for province, district, geom in zip(
        districts["province"], districts["district"], districts.geometry, strict=True
    ):
        if province == "Sindh" and district != "Keamari":
            continue
        mine = centres[(centres["province"] == province) & (centres["district"] == district)]
        k = int(gazetteer.get((province, district), 1))
        inside = towns[shapely.contains_xy(geom, towns["lon"], towns["lat"])]
        # the k largest settlements, plus one representative point when there are fewer
        assert len(mine) == min(k, len(inside)) + (len(inside) < k)
        assert shapely.contains_xy(geom, mine["lon"], mine["lat"]).all()
        top = np.sort(inside["population"].to_numpy())[::-1][:k]
        assert sorted(mine["population"][mine["population"] > 0], reverse=True) == list(
            top[top > 0]
        )
