"""Shared fixtures for the overlay kernel tests.

The kernel tests also run with ``NUMBA_DISABLE_JIT=1`` (pure Python); :data:`PURE_PYTHON` then
shrinks the inputs so that run stays short.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numba
import numpy as np
import pytest
import shapely

#: True when numba compiles nothing (NUMBA_DISABLE_JIT=1): use small inputs.
PURE_PYTHON = bool(numba.config.DISABLE_JIT)  # type: ignore[attr-defined]

#: Districts around Islamabad used in the pure-Python run (a connected block with shared edges).
_SMALL_BOX = (72.0, 33.0, 74.0, 34.5)


@pytest.fixture(scope="session")
def districts_4326() -> np.ndarray:
    """The 156 real district polygons (make_valid, polygonal parts), EPSG:4326."""
    from rahat.geo.boundaries import districts

    frame = districts()
    if PURE_PYTHON:
        frame = frame[frame.intersects(shapely.box(*_SMALL_BOX))]
    return frame.geometry.to_numpy()


@pytest.fixture(scope="session", params=["EPSG:4326", "EPSG:32642", "EPSG:3857"])
def districts_any_crs(request: pytest.FixtureRequest, districts_4326: np.ndarray) -> np.ndarray:
    """The district polygons reprojected (valid after reprojection, polygonal parts kept)."""
    import geopandas as gpd

    if request.param == "EPSG:4326":
        return districts_4326
    series = gpd.GeoSeries(districts_4326, crs="EPSG:4326").to_crs(request.param)
    geoms = series.to_numpy()
    invalid = ~shapely.is_valid(geoms)
    for i in np.flatnonzero(invalid):  # reprojection may create tiny self-intersections
        parts = shapely.get_parts(shapely.make_valid(geoms[i]))
        geoms[i] = shapely.union_all(parts[shapely.get_type_id(parts) == 3])
    return geoms


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A Dask LocalCluster of two worker processes for the cluster tests of a module.

    Per module, not per session: an idle cluster still costs a little CPU, which the rest of
    the suite would pay while it waits. A test that kills a worker leaves the cluster whole
    again (the nanny starts another).
    """
    pytest.importorskip("distributed")
    from rahat.engine.distributed.cluster import cluster_client

    with cluster_client("local:2") as connected:
        yield connected
