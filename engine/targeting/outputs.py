"""Write a caseload: Parquet, CSV, GeoPackage, HXL summary CSV, PNG map, manifest.

The files are written into a temporary sibling folder, synced, and the folder is renamed into
place (:mod:`rahat.engine.targeting.folders`), so an output folder is complete or absent: a run
killed while writing leaves only a ``.tmp-*`` folder, removed by the next write. A folder that
also holds other files (a working folder given as ``--out``) gets the files moved in one by
one, the manifest last, so a folder with a manifest is complete. For the same inputs every file is
byte-identical: fixed writer options, rows in rank order then by household id, summary rows by
unit name, no timestamps (the manifest has no ``created`` time; the GeoPackage's own timestamp
is pinned with GDAL's ``OGR_CURRENT_DATE``; the PNG carries no date). The manifest, written
last, records the sha256 of every other file, the map and the GeoPackage included.

The caseload is converted to Arrow once: the Parquet (every considered household) is written
from it with pyarrow, the CSV record batch by record batch with ``pyarrow.csv``
(:mod:`rahat.engine.targeting.tables`: shortest float text, ``True``/``False``, NaN empty), the
GeoPackage (selected households only) with ``pyogrio.write_arrow``. ``rahat run --outputs``
chooses the files (:func:`parse_formats`); Parquet, summary and manifest are always written.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from rahat.engine.targeting.caseload import BATCH_ROWS, Caseload
from rahat.engine.targeting.folders import (
    TEMP_PREFIX,
    commit_dir,
    commit_files,
    sweep_stale,
    temp_dir_for,
)
from rahat.engine.targeting.tables import point_table, write_csv
from rahat.geo.errors import InputError
from rahat.geo.files import sha256_file

#: File name of each output.
FILES: dict[str, str] = {
    "parquet": "caseload.parquet",
    "csv": "caseload.csv",
    "gpkg": "caseload.gpkg",
    "summary": "summary.csv",
    "map": "map.png",
    "manifest": "manifest.json",
}

#: Outputs written whatever ``--outputs`` asks for.
ALWAYS: tuple[str, ...] = ("parquet", "summary", "manifest")
#: Every output (``rahat demo`` writes them all).
ALL_FORMATS: tuple[str, ...] = tuple(FILES)
#: Outputs of a run by default: all but the CSV, whose rows the Parquet holds too (a national
#: run's CSV is gigabytes; ``--outputs`` adds it). The GeoPackage and map hold the selected
#: households.
DEFAULT_FORMATS: tuple[str, ...] = tuple(key for key in FILES if key != "csv")


def parse_formats(text: str | None) -> tuple[str, ...]:
    """Outputs named by a comma list (``--outputs csv,map``), plus :data:`ALWAYS`.

    Parameters
    ----------
    text
        Comma-separated keys of :data:`FILES`; ``None`` or blank for :data:`DEFAULT_FORMATS`.

    Returns
    -------
    tuple of str
        The outputs to write, in :data:`FILES` order.

    Raises
    ------
    rahat.geo.errors.InputError
        For a name that is not an output.
    """
    if text is None or not text.strip():
        return DEFAULT_FORMATS
    asked = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = sorted(asked - set(FILES))
    if unknown:
        raise InputError(
            f"--outputs: unknown output {', '.join(unknown)}; choose from {', '.join(FILES)}"
        )
    return tuple(key for key in FILES if key in asked or key in ALWAYS)


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
    "stale_in_footprint": "#affected+hh+stale",
    "stale_selected": "#targeted+hh+stale",
    "unregistered_b40_est": "#affected+hh+b40+unregistered",
    "unregistered_b40_lo90": "#affected+hh+b40+unregistered+lo90",
    "unregistered_b40_hi90": "#affected+hh+b40+unregistered+hi90",
}

_GPKG_DATE = "2000-01-01T00:00:00.000Z"

#: Writer options of ``caseload.parquet`` (fixed: the same caseload gives the same bytes).
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 1,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
}


def _parquet(batches: Iterable[pa.Table], tmp: Path) -> None:
    """Write the caseload slice by slice, one row group a slice (:meth:`Caseload.batches`)."""
    import pyarrow.parquet as pq

    writer: pq.ParquetWriter | None = None
    try:
        for batch in batches:
            if writer is None:
                writer = pq.ParquetWriter(tmp, batch.schema, **PARQUET_OPTIONS)
            writer.write_table(batch, row_group_size=BATCH_ROWS)
    finally:
        if writer is not None:
            writer.close()


def _summary_csv(summary: pd.DataFrame, tmp: Path) -> None:
    hxl = pd.DataFrame([[HXL_TAGS.get(c, "") for c in summary.columns]], columns=summary.columns)
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        summary.head(0).to_csv(fh, index=False, lineterminator="\n")
        hxl.to_csv(fh, index=False, header=False, lineterminator="\n")
        summary.to_csv(fh, index=False, header=False, lineterminator="\n", float_format="%.6g")


def _gpkg(selected: Iterable[pa.Table], tmp: Path) -> None:
    """The ``selected`` households as GeoPackage points, slice by slice from Arrow."""
    import pyogrio

    slices = iter(selected)
    first = point_table(next(slices))
    rest = (batch for part in slices for batch in point_table(part).to_batches())
    stream = pa.RecordBatchReader.from_batches(first.schema, chain(first.to_batches(), rest))
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": _GPKG_DATE})
    try:
        pyogrio.write_arrow(
            stream,
            tmp,
            layer="caseload",
            driver="GPKG",
            geometry_name="geometry",
            geometry_type="Point",
            crs="EPSG:4326",
        )
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})


def write_outputs(
    caseload: Caseload,
    out_dir: str | Path,
    *,
    formats: Iterable[str] = DEFAULT_FORMATS,
    extra: Mapping[str, Path] | None = None,
) -> dict[str, Path]:
    """Write the caseload's files into ``out_dir``, all at once.

    Parameters
    ----------
    caseload
        The evaluated caseload.
    out_dir
        Output folder (created if missing). The files are built in a temporary sibling folder
        and appear together; an existing folder holding only outputs is replaced whole.
    formats
        Which outputs to write (keys of :data:`FILES`); the manifest is written last and records
        the sha256 of every other file written.
    extra
        Files already written for this run (e.g. ``rejects`` -> ``rejects.csv``), by name:
        copied into the folder, returned with the others and hashed in the manifest.

    Returns
    -------
    dict
        Output name -> path (in ``out_dir``).
    """
    out = Path(out_dir)
    wanted = list(formats)
    unknown = sorted(set(wanted) - set(FILES))
    if unknown:
        raise ValueError(f"unknown output formats {unknown}; use {sorted(FILES)}")
    sweep_stale(out)
    temp = temp_dir_for(out)
    try:
        names = {key: path.name for key, path in (extra or {}).items()}
        for path in (extra or {}).values():
            shutil.copy2(path, temp / path.name)
        names.update(_write_files(caseload, temp, wanted, names))
        if _only_outputs(out, set(names.values())):
            commit_dir(temp, out)
        else:
            commit_files(temp, out, last=FILES["manifest"])
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return {key: out / name for key, name in names.items()}


def _only_outputs(folder: Path, names: set[str]) -> bool:
    """Whether ``folder`` is absent or holds nothing but outputs (so it may be replaced whole)."""
    if not folder.exists():
        return True
    if not folder.is_dir() or folder.is_symlink():
        return False
    known = names | set(FILES.values())
    return all(p.name in known or p.name.startswith(TEMP_PREFIX) for p in folder.iterdir())


def _write_files(
    caseload: Caseload, folder: Path, wanted: list[str], extra: Mapping[str, str]
) -> dict[str, str]:
    """Write the ``wanted`` outputs into the (temporary) ``folder``; return name -> file name.

    The GeoPackage (selected households) and the Parquet (every considered household) are
    written by worker threads slice by slice (:meth:`Caseload.batches`: each slice built from
    its own rows, so memory holds a slice, not the caseload), the CSV from the whole table
    (its quoting depends on all of it), while this thread draws the summary and the map
    (matplotlib stays on one thread) from the few columns they need. Each file is hashed by
    the thread that wrote it, as soon as it is written. A failing writer fails the whole write
    after every other writer has stopped, so nothing is left writing into the folder.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    def written(key: str, write: Callable[[Path], None]) -> str:
        path = folder / FILES[key]
        write(path)
        return sha256_file(path)

    digests: dict[str, Future[str] | str] = {}
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="rahat-write") as pool:
        # leaving the block waits for every writer, also when this thread fails
        if "gpkg" in wanted:
            selected = caseload.batches(selected_only=True)
            digests["gpkg"] = pool.submit(written, "gpkg", partial(_gpkg, selected))
        if "csv" in wanted:  # quoted or not as the whole file needs: from the whole table
            digests["csv"] = pool.submit(written, "csv", partial(write_csv, caseload.table))
        if "parquet" in wanted:
            digests["parquet"] = pool.submit(
                written, "parquet", partial(_parquet, caseload.batches())
            )
        local: dict[str, Callable[[Path], None]] = {
            "summary": lambda path: _summary_csv(caseload.summary(), path),
            "map": lambda path: _map(caseload, path),
        }
        for key, draw in local.items():
            if key in wanted:
                digests[key] = written(key, draw)
        for key, name in extra.items():
            digests[key] = sha256_file(folder / name)
    done = {key: d.result() if isinstance(d, Future) else d for key, d in digests.items()}
    names = {key: FILES[key] for key in FILES if key in wanted and key != "manifest"}
    if "manifest" in wanted:
        manifest: dict[str, Any] = dict(caseload.manifest)
        files = {**extra, **names}
        manifest["outputs"] = {
            key: {"file": name, "sha256": done[key]} for key, name in files.items()
        }
        text = json.dumps(manifest, indent=2, sort_keys=True, default=_json_default) + "\n"
        (folder / FILES["manifest"]).write_text(text, encoding="utf-8")
        names["manifest"] = FILES["manifest"]
    return names


def _map(caseload: Caseload, path: Path) -> None:
    from rahat.engine.targeting.maps import caseload_map

    caseload_map(caseload, path)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
