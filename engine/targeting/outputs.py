"""Write a caseload: Parquet, CSV, GeoPackage, HXL summary CSV, PNG map, manifest.

Every file is written to a temporary name in the output folder and moved into place with
``os.replace``, so a reader never sees half a file. For the same inputs every file is
byte-identical: fixed writer options, rows in rank order then by household id, summary rows by
unit name, no timestamps (the manifest has no ``created`` time; the GeoPackage's own timestamp
is pinned with GDAL's ``OGR_CURRENT_DATE``; the PNG carries no date). The manifest, written
last, records the sha256 of every other file, the map and the GeoPackage included.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rahat.engine.targeting.caseload import Caseload
from rahat.geo.files import atomic_write

#: File name of each output.
FILES: dict[str, str] = {
    "parquet": "caseload.parquet",
    "csv": "caseload.csv",
    "gpkg": "caseload.gpkg",
    "summary": "summary.csv",
    "map": "map.png",
    "manifest": "manifest.json",
}

#: HXL hashtag of each summary column (Humanitarian Exchange Language, hxlstandard.org).
HXL_TAGS: dict[str, str] = {
    "level": "#meta+level",
    "province": "#adm1+name",
    "district": "#adm2+name",
    "tehsil": "#adm3+name",
    "pcode": "#meta+pcode",
    "exposed": "#affected+hh",
    "eligible": "#inneed+hh",
    "households": "#targeted+hh",
    "people": "#targeted+ind",
    "amount": "#value+transfer+pkr",
    "exposed_reached": "#targeted+hh+affected",
    "exposed_reached_share": "#targeted+hh+affected+pct",
    "exposed_bottom40": "#affected+hh+b40",
    "exposed_bottom40_reached": "#targeted+hh+b40",
    "exposed_bottom40_reached_share": "#targeted+hh+b40+pct",
}

_GPKG_DATE = "2000-01-01T00:00:00.000Z"


def _parquet(frame: pd.DataFrame, tmp: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(
        table,
        tmp,
        compression="zstd",
        compression_level=3,
        use_dictionary=True,
        write_statistics=True,
        version="2.6",
        data_page_version="1.0",
    )


def _csv(frame: pd.DataFrame, tmp: Path) -> None:
    frame.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")


def _summary_csv(summary: pd.DataFrame, tmp: Path) -> None:
    hxl = pd.DataFrame([[HXL_TAGS.get(c, "") for c in summary.columns]], columns=summary.columns)
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        summary.head(0).to_csv(fh, index=False, lineterminator="\n")
        hxl.to_csv(fh, index=False, header=False, lineterminator="\n")
        summary.to_csv(fh, index=False, header=False, lineterminator="\n", float_format="%.6g")


def _gpkg(frame: pd.DataFrame, tmp: Path) -> None:
    import geopandas as gpd
    import pyogrio

    selected = frame[frame["selected"].to_numpy()].copy()
    for col in selected.columns:
        if isinstance(selected[col].dtype, pd.CategoricalDtype):
            selected[col] = selected[col].astype(object).where(selected[col].notna(), None)
    points = gpd.GeoDataFrame(
        selected,
        geometry=gpd.points_from_xy(selected["lon"], selected["lat"]),
        crs="EPSG:4326",
    )
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": _GPKG_DATE})
    try:
        pyogrio.write_dataframe(points, tmp, layer="caseload", driver="GPKG")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_outputs(
    caseload: Caseload,
    out_dir: str | Path,
    *,
    formats: Iterable[str] = ("parquet", "csv", "gpkg", "summary", "map", "manifest"),
    extra: Mapping[str, Path] | None = None,
) -> dict[str, Path]:
    """Write the caseload's files into ``out_dir``.

    Parameters
    ----------
    caseload
        The evaluated caseload.
    out_dir
        Output folder (created if missing).
    formats
        Which outputs to write (keys of :data:`FILES`); the manifest is written last and records
        the sha256 of every other file written.
    extra
        Files already written for this run (e.g. ``rejects`` -> ``rejects.csv``), by name:
        returned with the others and hashed in the manifest.

    Returns
    -------
    dict
        Output name -> path.
    """
    out = Path(out_dir)
    wanted = list(formats)
    unknown = sorted(set(wanted) - set(FILES))
    if unknown:
        raise ValueError(f"unknown output formats {unknown}; use {sorted(FILES)}")
    paths: dict[str, Path] = {}
    frame = caseload.frame
    if "parquet" in wanted:
        paths["parquet"] = atomic_write(out / FILES["parquet"], lambda t: _parquet(frame, t))
    if "csv" in wanted:
        paths["csv"] = atomic_write(out / FILES["csv"], lambda t: _csv(frame, t))
    if "gpkg" in wanted:
        paths["gpkg"] = atomic_write(out / FILES["gpkg"], lambda t: _gpkg(frame, t))
    if "summary" in wanted:
        summary = caseload.summary()
        paths["summary"] = atomic_write(out / FILES["summary"], lambda t: _summary_csv(summary, t))
    if "map" in wanted:
        from rahat.engine.targeting.maps import caseload_map

        paths["map"] = atomic_write(out / FILES["map"], lambda t: caseload_map(caseload, t))
    if "manifest" in wanted:
        manifest: dict[str, Any] = dict(caseload.manifest)
        manifest["outputs"] = {
            name: {"file": path.name, "sha256": _sha256(path)}
            for name, path in {**(extra or {}), **paths}.items()
        }
        text = json.dumps(manifest, indent=2, sort_keys=True, default=_json_default) + "\n"

        def write_manifest(tmp: Path) -> None:
            tmp.write_text(text, encoding="utf-8")

        paths["manifest"] = atomic_write(out / FILES["manifest"], write_manifest)
    return {**(extra or {}), **paths}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
