"""Inputs of ``rahat bench e2e``: a national registry of any size, written in chunks.

The demo generator (:mod:`rahat.geo.registry.synth`) is census-calibrated but holds the whole
population in memory (about 10 s and 0.4 GB per million households), too slow and too big for
40 M. This generator writes a registry of the same schema in chunks of
:data:`CHUNK` households, so its memory does not grow with ``n``:

- locations: 60% around the 506 real settlements (weighted by the square root of their
  population), 40% uniform, all inside Pakistan's districts (points that fall outside every
  district are drawn again);
- province and district: the district polygon each household lies in (the engine's polygon
  kernel), so every row passes the registry's plausibility checks; no tehsil (as for most of
  NSER's rows outside Sindh in the bundled data);
- PMT, household size, members, dwelling, livelihood and dates: independent draws with
  plausible shares (not calibrated: the benchmark measures speed, not targeting).

The file is GeoParquet: WKB points in ``geometry`` (built without shapely, 21 bytes each) plus
``lon``/``lat``, as an agency's export would be.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

#: Households generated and written per chunk.
CHUNK = 2_000_000

_DWELLINGS = (("kacha", 0.45), ("semi_pakka", 0.35), ("pakka", 0.20))
_LIVELIHOODS = (
    ("crop_farming", 0.30),
    ("livestock", 0.12),
    ("fishing", 0.02),
    ("daily_wage", 0.30),
    ("salaried", 0.10),
    ("business", 0.10),
    ("remittances", 0.04),
    ("none", 0.02),
)


def _wkb_points(lon: np.ndarray, lat: np.ndarray) -> pa.Array:
    """Little-endian WKB points (type 1), one 21-byte value per household."""
    n = len(lon)
    raw = np.empty((n, 21), dtype=np.uint8)
    raw[:, 0] = 1
    raw[:, 1:5] = np.frombuffer(np.uint32(1).tobytes(), dtype=np.uint8)
    raw[:, 5:13] = lon.astype("<f8").view(np.uint8).reshape(n, 8)
    raw[:, 13:21] = lat.astype("<f8").view(np.uint8).reshape(n, 8)
    offsets = np.arange(0, 21 * (n + 1), 21, dtype=np.int32)
    return pa.BinaryArray.from_buffers(
        pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(raw.ravel())]
    )


def _choice(rng: np.random.Generator, table: tuple[tuple[str, float], ...], n: int) -> pa.Array:
    names = [name for name, _ in table]
    shares = np.array([share for _, share in table])
    codes = rng.choice(len(names), size=n, p=shares / shares.sum()).astype(np.int8)
    return pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(names))


class _Locator:
    """Draws household locations inside Pakistan and names their district and province."""

    def __init__(self) -> None:
        from rahat.engine.kernels.polygons import build_polygon_index
        from rahat.geo.boundaries import districts, settlements

        frame = districts()
        self.index = build_polygon_index(frame.geometry.to_numpy())
        self.districts = pa.array(frame["district"].astype(str).tolist(), pa.string())
        provinces, self.province_of = np.unique(
            frame["province"].astype(str).to_numpy(), return_inverse=True
        )
        self.provinces = pa.array(provinces.tolist(), pa.string())
        minx, miny, maxx, maxy = (float(b) for b in frame.total_bounds)
        self.bounds = (minx, miny, maxx, maxy)
        places = settlements()
        weights = np.sqrt(places["population"].to_numpy(np.float64) + 1000.0)
        self.place_p = weights / weights.sum()
        self.place_lon = places["lon"].to_numpy(np.float64)
        self.place_lat = places["lat"].to_numpy(np.float64)

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` locations inside a district: lon, lat and the district's row."""
        from rahat.engine.kernels.polygons import locate

        lon = np.empty(n)
        lat = np.empty(n)
        row = np.full(n, -1, dtype=np.int64)
        todo = np.arange(n)
        while todo.size:
            k = todo.size
            town = rng.random(k) < 0.6
            nt = int(town.sum())
            pick = rng.choice(len(self.place_p), size=nt, p=self.place_p)
            spread = rng.uniform(0.03, 0.25, size=nt)
            x = np.empty(k)
            y = np.empty(k)
            x[town] = self.place_lon[pick] + rng.normal(0, 1, nt) * spread
            y[town] = self.place_lat[pick] + rng.normal(0, 1, nt) * spread
            minx, miny, maxx, maxy = self.bounds
            x[~town] = rng.uniform(minx, maxx, k - nt)
            y[~town] = rng.uniform(miny, maxy, k - nt)
            x = np.round(x, 6)
            y = np.round(y, 6)
            found = locate(x, y, self.index)
            ok = found >= 0
            lon[todo[ok]], lat[todo[ok]], row[todo[ok]] = x[ok], y[ok], found[ok]
            todo = todo[~ok]
        return lon, lat, row


def _chunk(locator: _Locator, rng: np.random.Generator, first_id: int, n: int) -> pa.Table:
    lon, lat, row = locator.draw(rng, n)
    size = np.clip(rng.poisson(5.2, n) + 1, 1, 25).astype(np.int16)
    children = np.minimum(rng.binomial(size, 0.18), size).astype(np.int16)
    elderly = np.minimum(rng.binomial(size, 0.06), size - children).astype(np.int16)
    days = np.datetime64("2019-01-01") + rng.integers(0, 6 * 365, n).astype("timedelta64[D]")
    district = pa.DictionaryArray.from_arrays(pa.array(row.astype(np.int32)), locator.districts)
    province = pa.DictionaryArray.from_arrays(
        pa.array(locator.province_of[row].astype(np.int32)), locator.provinces
    )
    columns = {
        "household_id": pa.array(np.arange(first_id, first_id + n, dtype=np.int64)),
        "lon": pa.array(lon),
        "lat": pa.array(lat),
        "province": province,
        "district": district,
        "tehsil": pa.nulls(n, pa.string()),
        "pmt_score": pa.array(np.round(rng.uniform(0, 100, n), 2).astype(np.float32)),
        "household_size": pa.array(size),
        "children_under5": pa.array(children),
        "elderly": pa.array(elderly),
        "disabled": pa.array(rng.binomial(size, 0.02).astype(np.int16)),
        "female_headed": pa.array(rng.random(n) < 0.11),
        "dwelling": _choice(rng, _DWELLINGS, n),
        "livelihood": _choice(rng, _LIVELIHOODS, n),
        "last_updated": pa.array(days.astype("datetime64[s]").astype("datetime64[ms]")),
        "geometry": _wkb_points(lon, lat),
    }
    return pa.table(columns)


def _geo_metadata(bounds: tuple[float, float, float, float]) -> bytes:
    return json.dumps(
        {
            "version": "1.0.0",
            "primary_column": "geometry",
            "columns": {
                "geometry": {
                    "encoding": "WKB",
                    "geometry_types": ["Point"],
                    # no "crs" member: OGC:CRS84, the GeoParquet default (null would mean unknown)
                    "bbox": list(bounds),
                }
            },
        }
    ).encode()


def national_registry(path: Path, n: int, seed: int = 40) -> Path:
    """Write a GeoParquet registry of ``n`` households to ``path`` (atomically); return it.

    Parameters
    ----------
    path
        Output file (``.parquet``).
    n
        Households.
    seed
        Seed of every draw: the same ``(n, seed)`` gives the same file content.
    """
    from rahat.geo.files import atomic_write

    locator = _Locator()
    rng = np.random.default_rng(seed)

    def write(tmp: Path) -> None:
        writer: pq.ParquetWriter | None = None
        try:
            for start in range(0, n, CHUNK):
                table = _chunk(locator, rng, start + 1, min(CHUNK, n - start))
                if writer is None:
                    schema = table.schema.with_metadata({b"geo": _geo_metadata(locator.bounds)})
                    writer = pq.ParquetWriter(tmp, schema, compression="zstd")
                writer.write_table(table.replace_schema_metadata(writer.schema.metadata))
        finally:
            if writer is not None:
                writer.close()

    return atomic_write(path, write)
