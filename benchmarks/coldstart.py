"""``rahat bench cold-start``: first-call time with an empty numba cache, then with a warm one.

Each measurement runs in a fresh Python process with ``NUMBA_CACHE_DIR`` pointing at a new
folder, so nothing compiled by this process or an earlier run is reused on the first pass; the
second pass reuses the cache the first one wrote (``cache=True`` kernels).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

_PROBE = """
import json, time
started = time.perf_counter()
import numpy as np
from rahat.engine.overlay import overlay, spatially_sorted
from rahat.engine.zones import admin_zone_layers, climate_zone_layer
from rahat.benchmarks.overlay import bench_dataset
from rahat.geo.hazards import read_hazard
from rahat.geo.registry.model import Registry
households, raster = bench_dataset(10_000)
imported = time.perf_counter()
registry = spatially_sorted(Registry.from_frame(households))
flood = read_hazard(raster, kind="flood_depth", name="depth")
overlay(registry, [flood], [*admin_zone_layers(("district",)), climate_zone_layer()])
done = time.perf_counter()
print(json.dumps({"import_s": imported - started, "first_overlay_s": done - imported,
                  "total_s": done - started}))
"""


def run_cold_start_bench() -> dict[str, float]:
    """Return seconds to the first overlay with an empty, then a warm, numba cache."""
    from rahat.benchmarks.overlay import bench_dataset

    bench_dataset(10_000)  # build the cached input files outside the timing
    result: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="rahat-numba-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for label in ("cold", "warm"):
            out = subprocess.run(
                [sys.executable, "-c", _PROBE], env=env, check=True, capture_output=True, text=True
            )
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            for key, value in figures.items():
                result[f"{label}_{key}"] = round(value, 2)
    return result
