"""Where NSER registration centres stand: one Dynamic Registration Centre per tehsil.

Since 2021 BISP runs one Dynamic Registration Centre (DRC) per tehsil, usually in the tehsil's
headquarters town (World Bank, *Mind the Gap*). No public list of their addresses is at hand, so
:func:`registration_centres` places each one at the tehsil's most populous GeoNames settlement:

* **Sindh** has tehsil polygons (OCHA COD-AB): each tehsil's centre is the most populous
  settlement inside its polygon, or the polygon's representative point where none is.
* **Elsewhere** only the tehsil names are known (PBS gazetteer): a district with ``k`` tehsils
  gets its ``k`` most populous settlements inside its polygon, and its representative point for
  each tehsil short of a settlement (only once: several centres on one point would double it).

The result is an approximation of the real network, good enough for distances at the scale of
a tehsil (the demo generator's exclusion driver and the "one centre per tehsil" baseline of
``rahat gap plan``).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

#: Columns of :func:`registration_centres`.
CENTRE_COLUMNS = ("province", "district", "tehsil", "name", "lon", "lat", "population")
_SINDH = "Sindh"


@cache
def _centres() -> pd.DataFrame:
    import shapely

    from rahat.geo import boundaries

    districts = boundaries.districts()
    towns = boundaries.settlements()
    t_lon = towns["lon"].to_numpy()
    t_lat = towns["lat"].to_numpy()
    t_pop = towns["population"].to_numpy()
    t_name = towns["name"].to_numpy()
    by_population = np.argsort(-t_pop, kind="stable")
    tehsils = boundaries.sindh_tehsils()
    gazetteer = boundaries.tehsil_names()
    counts = gazetteer.groupby(["province", "district"]).size()
    rows: list[tuple[object, ...]] = []

    def place(province: str, district: str, tehsil: str, geom: object, k: int) -> None:
        inside = by_population[
            shapely.contains_xy(geom, t_lon[by_population], t_lat[by_population])
        ]
        for i in inside[:k]:
            rows.append((province, district, tehsil, t_name[i], t_lon[i], t_lat[i], t_pop[i]))
        if len(inside) < k:
            point = shapely.point_on_surface(geom)
            rows.append(
                (
                    province,
                    district,
                    tehsil,
                    f"{tehsil or district} (centre)",
                    float(shapely.get_x(point)),
                    float(shapely.get_y(point)),
                    0,
                )
            )

    for province, district, pcode, geom in zip(
        districts["province"],
        districts["district"],
        districts["district_pcode"],
        districts.geometry.to_numpy(),
        strict=True,
    ):
        own = tehsils[tehsils["district_pcode"] == pcode] if province == _SINDH else tehsils[:0]
        if len(own):
            for tehsil, tgeom in zip(own["tehsil"], own.geometry.to_numpy(), strict=True):
                place(province, district, str(tehsil), tgeom, 1)
        else:
            place(province, district, "", geom, int(counts.get((province, district), 1)))
    frame = pd.DataFrame(rows, columns=list(CENTRE_COLUMNS))
    return frame.astype({"lon": "float64", "lat": "float64", "population": "int64"})


def registration_centres() -> pd.DataFrame:
    """Return the approximate NSER registration centres: one per tehsil.

    Returns
    -------
    pandas.DataFrame
        :data:`CENTRE_COLUMNS`, one row per centre, districts in the order of
        :func:`rahat.geo.boundaries.districts`. ``tehsil`` is the COD-AB tehsil name in Sindh
        and ``""`` elsewhere (PBS tehsils have no boundaries here); ``population`` is the
        settlement's, 0 for a representative point.
    """
    return _centres().copy()
