"""A synthetic, deliberately invalid flood-extent footprint for tests and benchmarks.

Satellite flood extents reach agencies as one huge MultiPolygon traced from a water mask:
thousands of parts, ragged edges, holes (dry islands), parts that overlap or touch, and rings
that cross themselves. :func:`complex_footprint` builds one such geometry over Sindh, from a
seed, so tests and benchmarks can measure the vector path on the kind of file agencies send
(``write_complex_footprint`` writes it as a zipped Shapefile and as GeoJSON).
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import shapely

#: Lon/lat box the parts are spread over (lower Indus plain, Sindh).
SINDH_BOX = (67.4, 24.6, 69.6, 27.8)


def _ring(
    rng: np.random.Generator, cx: float, cy: float, radius: float, n: int, *, rough: float = 0.35
) -> np.ndarray:
    """A closed star-shaped ring of ``n`` vertices with ragged radii (counter-clockwise)."""
    angles = np.sort(rng.uniform(0.0, 2 * np.pi, n))
    radii = radius * (1.0 + rough * rng.uniform(-1.0, 1.0, n))
    xy = np.column_stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)])
    return np.vstack([xy, xy[:1]])


def complex_footprint(
    n_parts: int = 7000, vertices_per_part: int = 70, seed: int = 12
) -> shapely.MultiPolygon:
    """Build one invalid MultiPolygon like a traced satellite flood extent.

    Parameters
    ----------
    n_parts
        Number of polygon parts (about 7,000 in the agency file of issue 12).
    vertices_per_part
        Mean vertices per shell (holes add about a third of that on a fifth of the parts);
        the defaults give about 500,000 vertices.
    seed
        Random seed; the same seed gives the same geometry.

    Returns
    -------
    shapely.MultiPolygon
        Invalid on purpose: about 5 % of the parts are bow-ties (a ring crossing itself),
        20 % have a hole, parts overlap their neighbours (they are clustered), and pairs of
        rectangles share an edge or a corner exactly. Built without validation, as a reader
        would.
    """
    import shapely

    rng = np.random.default_rng(seed)
    west, south, east, north = SINDH_BOX
    n_clusters = max(1, n_parts // 12)
    centres = np.column_stack(
        [rng.uniform(west, east, n_clusters), rng.uniform(south, north, n_clusters)]
    )
    parts: list[shapely.Polygon] = []
    n_pairs = n_parts // 20  # touching rectangles, two parts each
    n_blobs = n_parts - 2 * n_pairs
    for i in range(n_blobs):
        c = centres[rng.integers(n_clusters)]
        cx, cy = c + rng.normal(0.0, 0.03, 2)
        radius = float(rng.uniform(0.002, 0.012))
        n = max(8, int(rng.poisson(vertices_per_part)))
        shell = _ring(rng, cx, cy, radius, n)
        if i % 20 == 7:  # bow-tie: reverse a run of vertices so two edges cross
            a = n // 4
            b = 3 * n // 4
            shell[a:b] = shell[a:b][::-1].copy()
        holes = []
        if i % 5 == 2:
            holes.append(_ring(rng, cx, cy, radius * 0.3, max(4, n // 3), rough=0.2)[::-1])
        parts.append(shapely.Polygon(shell, holes))
    grid = 1.0 / 1024  # exact binary fractions: shared edges stay exactly shared
    for k in range(n_pairs):
        x0 = np.floor(rng.uniform(west, east) / grid) * grid
        y0 = np.floor(rng.uniform(south, north) / grid) * grid
        w, h = grid * int(rng.integers(2, 8)), grid * int(rng.integers(2, 8))
        parts.append(shapely.box(x0, y0, x0 + w, y0 + h))
        if k % 2:  # shares the east edge
            parts.append(shapely.box(x0 + w, y0, x0 + 2 * w, y0 + h))
        else:  # shares the north-east corner
            parts.append(shapely.box(x0 + w, y0 + h, x0 + 2 * w, y0 + 2 * h))
    order = rng.permutation(len(parts))
    return shapely.MultiPolygon([parts[i] for i in order])


def write_complex_footprint(
    folder: str | Path, *, n_parts: int = 7000, vertices_per_part: int = 70, seed: int = 12
) -> dict[str, Path]:
    """Write :func:`complex_footprint` as a zipped Shapefile and as GeoJSON (EPSG:4326).

    Parameters
    ----------
    folder
        Created if missing; receives ``flood_extent.zip`` and ``flood_extent.geojson``.
    n_parts, vertices_per_part, seed
        See :func:`complex_footprint`.

    Returns
    -------
    dict
        ``{"shapefile_zip": path, "geojson": path}``.
    """
    import geopandas as gpd

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    geom = complex_footprint(n_parts, vertices_per_part, seed)
    frame = gpd.GeoDataFrame({"flooded": [1]}, geometry=[geom], crs="EPSG:4326")
    geojson = out / "flood_extent.geojson"
    frame.to_file(geojson, driver="GeoJSON", engine="pyogrio")
    archive = out / "flood_extent.zip"
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        frame.to_file(Path(tmp) / "flood_extent.shp", engine="pyogrio")
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for member in sorted(Path(tmp).iterdir()):
                zf.write(member, member.name)
    return {"shapefile_zip": archive, "geojson": geojson}
