"""Regenerate the small sample files of ``data/samples`` (see ``data/SOURCES.md``).

Run from the repository root: ``python data/samples/make_samples.py``. The output is the same
on every run (fixed seeds), so the committed files can be checked against it.

- ``registry_sample.csv``: 40 households of the synthetic demo registry (seed 11) as a CSV
  with ``lon``/``lat`` columns, 5 of them made invalid on purpose, one reason each, for
  ``rahat registry validate``;
- ``flood_depth_sample.tif``: a 64 x 64 synthetic flood depth raster (metres, float32, UTM
  zone 42N, 250 m pixels, nodata -9999) over Dadu and Johi, Sindh;
- ``flood_depth_no_crs.tif``: the same raster without a CRS, which Rahat refuses.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def registry_sample(path: Path) -> None:
    """Write the sample registry CSV (40 rows, 6 of them invalid) to ``path``."""
    from rahat.geo.registry.synth import write_demo

    with tempfile.TemporaryDirectory() as tmp:
        _, registry_path = write_demo(2000, 11, tmp)
        registry = pd.read_parquet(registry_path)
    frame = registry.drop(columns="geometry").head(40).reset_index(drop=True)
    frame.insert(1, "lon", registry["geometry"].head(40).map(lambda p: round(p["x"], 5)))
    frame.insert(2, "lat", registry["geometry"].head(40).map(lambda p: round(p["y"], 5)))
    for col in frame.columns:
        if str(frame[col].dtype).startswith("datetime64"):
            frame[col] = frame[col].dt.strftime("%Y-%m-%d")
    frame["pmt_score"] = frame["pmt_score"].astype("float64").round(2)
    frame = frame.astype({"dwelling": str, "lat": "float64"})
    frame.loc[3, "pmt_score"] = 250.0  # outside 0..100
    frame.loc[7, "dwelling"] = "mud"  # not one of kacha, semi_pakka, pakka
    frame.loc[12, "lat"] = np.nan  # missing coordinate
    frame.loc[20, "children_under5"] = frame.loc[20, "household_size"] + 1  # more than size
    frame.loc[31, "household_id"] = frame.loc[30, "household_id"]  # duplicate id (2 rows)
    frame.to_csv(path, index=False, lineterminator="\n")


def depth_raster(path: Path, with_crs: bool = True) -> None:
    """Write the 64 x 64 synthetic flood depth GeoTIFF (without a CRS if ``with_crs`` is false)."""
    import rasterio
    from rasterio.transform import from_origin

    size, pixel = 64, 250.0
    # Top-left corner in UTM 42N, about 67.55 E, 27.00 N (Dadu / Johi).
    west, north = 355_000.0, 2_987_000.0
    yy, xx = np.mgrid[0:size, 0:size].astype("float64")
    bump = 3.0 * np.exp(-(((xx - 40) / 14) ** 2 + ((yy - 30) / 18) ** 2))
    depth = np.where(bump < 0.05, 0.0, bump).round(2).astype("float32")
    depth[:6, :6] = -9999.0  # a corner with no data
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "float32",
        "nodata": -9999.0,
        "transform": from_origin(west, north, pixel, pixel),
        "compress": "deflate",
        "predictor": 3,
    }
    if with_crs:
        profile["crs"] = "EPSG:32642"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(depth, 1)
        dst.update_tags(1, units="m", description="synthetic flood depth (Rahat sample)")


def main() -> None:
    """Rewrite every sample file."""
    registry_sample(HERE / "registry_sample.csv")
    depth_raster(HERE / "flood_depth_sample.tif")
    depth_raster(HERE / "flood_depth_no_crs.tif", with_crs=False)


if __name__ == "__main__":
    main()
