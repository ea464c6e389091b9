"""``rahat bench hazard-inspect``: ``rahat hazard inspect`` on a large tiled GeoTIFF."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

_CHILD = """
import json, resource, sys, time
import psutil, pyproj, rasterio
from rahat.geo.hazards import inspect_hazard, read_hazard
base = psutil.Process().memory_info().rss
ru0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
summary = inspect_hazard(read_hazard(sys.argv[1]))
sec = time.perf_counter() - t0
ru1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
print(json.dumps({"seconds": sec, "cpu_seconds": cpu, "baseline_rss": base,
                  "peak_rss": ru1.ru_maxrss * 1024, "affected_km2": summary["affected_km2"]}))
"""


def write_bench_raster(
    path: Path, *, width: int = 7000, height: int = 5500, block: int = 256, crs: str = "EPSG:32642"
) -> Path:
    """Write a tiled, deflate-compressed float32 flood-depth GeoTIFF strip by strip.

    The values are a smooth synthetic depth field (metres) with a no-data corner; memory use is
    one block row. Written to a temporary name and renamed, so a partial file never remains.
    """
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    tmp = path.with_name(path.name + ".part")
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "float32",
        "crs": crs,
        "transform": from_origin(300_000.0, 3_000_000.0, 30.0, 30.0),
        "nodata": -9999.0,
        "tiled": True,
        "blockxsize": block,
        "blockysize": block,
        "compress": "deflate",
        "predictor": 3,
    }
    cols = np.arange(width, dtype=np.float32)
    with rasterio.open(tmp, "w", **profile) as dst:
        for r in range(0, height, block):
            h = min(block, height - r)
            rows = np.arange(r, r + h, dtype=np.float32)[:, None]
            depth = 1.2 * np.sin(cols / 700.0) * np.cos(rows / 550.0) + 0.6
            depth = np.maximum(depth, 0).astype(np.float32)
            depth[(rows + cols[None, :]) < (width + height) / 8] = -9999.0
            dst.write(depth, 1, window=Window(0, r, width, h))
    tmp.replace(path)
    return path


def bench_inspect(
    cache_dir: str | Path | None = None,
    *,
    width: int = 7000,
    height: int = 5500,
    block: int = 256,
    run_cli: bool = True,
) -> dict[str, Any]:
    """Time ``read_hazard`` + ``inspect_hazard`` (and the CLI) on a large tiled GeoTIFF.

    Writes (once) a ``width x height`` float32 tiled GeoTIFF in UTM 42N into ``cache_dir``, then
    measures in fresh Python processes so that peak RSS belongs to the measured work only.

    Parameters
    ----------
    cache_dir
        Folder for the generated raster; default :func:`rahat.geo.paths.cache_dir`.
    width, height, block
        Raster size and tile size.
    run_cli
        Also time ``rahat hazard inspect FILE --json`` end to end (process start included),
        using the ``rahat`` console script next to the running Python, if installed.

    Returns
    -------
    dict
        ``path``, ``pixels``, ``raster_mb`` (uncompressed size), ``block_mb``, ``seconds``
        (read + inspect, wall), ``cpu_seconds`` (user + system CPU of that work),
        ``baseline_rss_mb`` (after imports), ``peak_rss_mb``,
        ``peak_over_baseline_mb`` and, with ``run_cli``, ``cli_seconds`` and ``cli_peak_rss_mb``.
    """
    from rahat.geo.paths import cache_dir as default_cache

    folder = Path(cache_dir) if cache_dir is not None else default_cache()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"bench_hazard_{width}x{height}_b{block}.tif"
    if not path.exists():
        write_bench_raster(path, width=width, height=height, block=block)
    result: dict[str, Any] = {
        "path": str(path),
        "pixels": width * height,
        "raster_mb": width * height * 4 / 2**20,
        "block_mb": block * block * 4 / 2**20,
    }
    script = Path(sys.executable).with_name("rahat")
    if run_cli and script.exists():
        # the installed console script, run as a program (process start included)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [str(script), "hazard", "inspect", str(path), "--json"],
            capture_output=True,
            text=True,
            check=False,
        )
        result["cli_seconds"] = time.perf_counter() - t0
        result["cli_exit_code"] = proc.returncode
        peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        result["cli_peak_rss_mb"] = peak_children / 2**20
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark process failed:\n{proc.stderr[-2000:]}")
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    result.update(
        seconds=child["seconds"],
        cpu_seconds=child["cpu_seconds"],
        baseline_rss_mb=child["baseline_rss"] / 2**20,
        peak_rss_mb=child["peak_rss"] / 2**20,
        peak_over_baseline_mb=(child["peak_rss"] - child["baseline_rss"]) / 2**20,
        affected_km2=child["affected_km2"],
    )
    return result
