"""Benchmark: preparing a complex invalid vector footprint, first time and from the store.

``python -m rahat.benchmarks.prepared [--folder DIR] [--parts 7000]`` writes the synthetic flood
extent of :func:`rahat.geo.hazards.synthetic_footprint.write_complex_footprint` (a zipped
Shapefile, one invalid MultiPolygon of ~7,000 parts and ~480,000 vertices) once, then times
:func:`rahat.geo.hazards.read_hazard` in fresh child processes (libraries imported before the
clock starts):

- ``first``: an empty cache folder (read, repair, validate, store the prepared layer);
- ``stored``: the same cache folder again (the prepared layer is loaded, nothing repaired);
- ``reference``: what an analyst writes with geopandas (``read_file``, ``make_valid``,
  ``union_all``), for comparison.

It prints one JSON object with the seconds of each.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

_CHILD = """
import json, sys, time
import geopandas, pyogrio, pyproj, shapely
from rahat.geo.hazards import read_hazard
t0 = time.perf_counter()
if sys.argv[2] == "reference":
    frame = geopandas.read_file(sys.argv[1])
    shapely.union_all(shapely.make_valid(frame.geometry.to_numpy(), method="structure"))
    warnings = []
else:
    warnings = list(read_hazard(sys.argv[1], kind="flood_extent").warnings)
print(json.dumps({"seconds": time.perf_counter() - t0, "warnings": warnings}))
"""


def _child(path: Path, mode: str, cache: Path) -> dict[str, Any]:
    env = {**os.environ, "RAHAT_CACHE_DIR": str(cache)}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), mode],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def bench_prepared(folder: Path, n_parts: int = 7000, reference: bool = False) -> dict[str, Any]:
    """Time preparing the synthetic footprint, first time and stored.

    Parameters
    ----------
    folder
        Where the footprint is written (reused when present).
    n_parts
        Parts of the footprint.
    reference
        Also time the geopandas ``make_valid`` + ``union_all`` reference (slow: tens of
        seconds for 7,000 parts).

    Returns
    -------
    dict
        ``parts``, ``vertices``, ``first_s``, ``stored_s`` (and ``reference_s``), ``warnings``.
    """
    import shapely

    from rahat.geo.hazards.synthetic_footprint import complex_footprint, write_complex_footprint

    path = folder / f"parts-{n_parts}" / "flood_extent.zip"
    if not path.exists():
        path = write_complex_footprint(path.parent, n_parts=n_parts)["shapefile_zip"]
    with tempfile.TemporaryDirectory(prefix="rahat-prepared-") as tmp:
        first = _child(path, "read", Path(tmp))
        stored = _child(path, "read", Path(tmp))
    result: dict[str, Any] = {
        "footprint": str(path),
        "parts": n_parts,
        "vertices": int(shapely.get_num_coordinates(complex_footprint(n_parts))),
        "first_s": round(first["seconds"], 3),
        "stored_s": round(stored["seconds"], 3),
        "warnings": first["warnings"],
        "same_warnings": first["warnings"] == stored["warnings"],
    }
    if reference:
        with tempfile.TemporaryDirectory(prefix="rahat-prepared-") as tmp:
            result["reference_s"] = round(_child(path, "reference", Path(tmp))["seconds"], 3)
    return result


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: print the figures of :func:`bench_prepared` as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--parts", type=int, default=7000)
    parser.add_argument("--reference", action="store_true")
    args = parser.parse_args(argv)
    if args.folder is None:
        from rahat.geo.paths import cache_dir

        args.folder = cache_dir() / "bench" / "prepared"
    print(json.dumps(bench_prepared(args.folder, args.parts, args.reference), indent=2))


if __name__ == "__main__":
    main()
