"""Write the coverage-gap table: ``gap_by_unit.csv``, ``gap_map.png`` and ``manifest.json``.

All or nothing.
The files are built in a temporary sibling folder and renamed into place
(:mod:`rahat.engine.targeting.folders`), so an output folder is complete or absent. Household
figures are written as whole households (estimates rounded to the nearest), coverage as a share
with four decimals; the manifest records the inputs' sha256, the options and each file's
sha256, and no timestamp, so the same inputs give the same bytes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rahat.engine.targeting.folders import commit_dir, sweep_stale, temp_dir_for
from rahat.geo.files import sha256_file

if TYPE_CHECKING:
    from rahat.geo.hazards.layer import HazardLayer

#: File names of the outputs.
GAP_FILE = "gap_by_unit.csv"
MANIFEST_FILE = "manifest.json"
MAP_FILE = "gap_map.png"
#: Columns written as whole households.
_COUNTS = (
    "households_est",
    "registered",
    "unregistered_b40_est",
    "unregistered_b40_lo90",
    "unregistered_b40_hi90",
    "stale_records",
)


def gap_csv_frame(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` as written: counts rounded to whole households, coverage to 4 decimals."""
    out = table.copy()
    for name in _COUNTS:
        if name in out:
            values = out[name].to_numpy(np.float64)
            if not np.isfinite(values).all():  # never a wrapped integer in a published file
                bad = out.loc[~np.isfinite(values), "unit"].astype(str).tolist()
                raise ValueError(f"{name} is not a finite number for {', '.join(bad[:5])}")
            out[name] = np.rint(values).astype(np.int64)
    if "coverage" in out:
        out["coverage"] = out["coverage"].to_numpy(np.float64).round(4)
    return out


def write_folder(
    out_dir: str | Path, write_files: Callable[[Path], dict[str, str]], manifest: dict[str, Any]
) -> dict[str, Path]:
    """Write a folder of outputs and its ``manifest.json``, all or nothing.

    Parameters
    ----------
    out_dir
        Output folder (created, or replaced whole).
    write_files
        Writes the files into the temporary folder it is given; returns output key -> file name.
    manifest
        Contents of the manifest; ``outputs`` (each file's name and sha256) is added.

    Returns
    -------
    dict
        Each output key, and ``manifest``, -> its final path.
    """
    out = Path(out_dir)
    sweep_stale(out)
    temp = temp_dir_for(out)
    try:
        files = write_files(temp)
        outputs = {k: {"file": f, "sha256": sha256_file(temp / f)} for k, f in files.items()}
        text = json.dumps({**manifest, "outputs": outputs}, indent=2, sort_keys=True) + "\n"
        (temp / MANIFEST_FILE).write_text(text, encoding="utf-8")
        commit_dir(temp, out)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return {**{key: out / name for key, name in files.items()}, "manifest": out / MANIFEST_FILE}


def write_gap(
    table: pd.DataFrame,
    out_dir: str | Path,
    provenance: dict[str, Any],
    *,
    keys: pd.Series | None = None,
    footprint: HazardLayer | None = None,
) -> dict[str, Path]:
    """Write the gap table, its map and its manifest into ``out_dir`` (created or replaced whole).

    Parameters
    ----------
    table
        :func:`~rahat.engine.gap.table.gap_table`'s table.
    out_dir
        Output folder.
    provenance
        Inputs, their sha256 and the options, recorded in the manifest.
    keys
        The table's unit keys (:attr:`~rahat.engine.gap.table.GapResult.keys`): with them the
        districts are drawn in ``gap_map.png`` (:func:`rahat.engine.gap.maps.gap_map`); no map
        where ``None``.
    footprint
        The hazard layer whose outline the map shows, or ``None``.

    Returns
    -------
    dict
        ``gap``, ``map`` (where drawn) and ``manifest`` -> their paths.
    """

    def write_files(temp: Path) -> dict[str, str]:
        gap_csv_frame(table).to_csv(temp / GAP_FILE, index=False, lineterminator="\n")
        files = {"gap": GAP_FILE}
        if keys is not None:
            from rahat.engine.gap.maps import gap_map

            districts = (table["level"] == "district").to_numpy()
            gap_map(table[districts].assign(key=keys[districts]), temp / MAP_FILE, footprint)
            files["map"] = MAP_FILE
        return files

    methods = {str(k): int(v) for k, v in table["method"].value_counts().items()}
    return write_folder(out_dir, write_files, {**provenance, "methods": methods})
