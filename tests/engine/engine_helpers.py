"""Helpers shared by the engine tests: scenario builders and a test raster (not a conftest).

Imported as ``from engine_helpers import ...``: pytest puts ``tests/engine`` on ``sys.path``
for the test modules here (no ``__init__.py``), as ``tests/hostile`` does for its ``fixtures``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.transform import from_origin

from rahat.engine.targeting import Scenario, load_scenario
from rahat.geo.registry.model import Registry

#: A fixed benefit of 25,000 within a 4 M budget, shared by district in proportion.
FUNDED: dict[str, Any] = {
    "benefit": {"kind": "fixed", "amount": 25000},
    "budget": {"total": 4_000_000},
    "quotas": {"level": "district", "mode": "proportional"},
}


def flood_scenario(
    name: str, seed: int, pmt_cutoff: float, eligibility: dict[str, Any], **sections: Any
) -> dict[str, Any]:
    """A kharif scenario on the demo flood depth with a hazard and a livelihood rule.

    Parameters
    ----------
    name, seed, pmt_cutoff
        The scenario's name, seed and PMT cut-off.
    eligibility
        Further eligibility rules, added after the hazard and livelihood rules.
    **sections
        Further top-level sections (priority, benefit, budget, quotas, ...).

    Returns
    -------
    dict
        The scenario as :func:`load_scenario` reads it.
    """
    scenario = {
        "name": name,
        "seed": seed,
        "season": "kharif",
        "hazards": [
            {"name": "depth", "path": "demo:flood_depth_sindh_2022", "kind": "flood_depth"}
        ],
        "eligibility": {
            "pmt_cutoff": pmt_cutoff,
            "hazard": [{"layer": "depth", "min_intensity": 0.3}],
            "livelihood": [
                {
                    "livelihoods": ["crop_farming", "livestock"],
                    "layer": "depth",
                    "min_intensity": 0.05,
                    "seasons": ["kharif"],
                }
            ],
            **eligibility,
        },
        **sections,
    }
    return copy.deepcopy(scenario)


def changed_scenario(base: dict[str, Any], **changes: Any) -> Scenario:
    """Load ``base`` with ``changes`` applied: dotted keys reach into sections, ``None`` drops.

    Parameters
    ----------
    base
        The scenario dict (left unchanged).
    **changes
        ``"section.key": value`` (passed as ``**{...}``) or ``section=value``.

    Returns
    -------
    Scenario
        The loaded scenario.
    """
    data = copy.deepcopy(base)
    for dotted, value in changes.items():
        node = data
        *head, last = dotted.split(".")
        for part in head:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return load_scenario(data)


def depth_raster_over(
    path: Path,
    registry: Registry,
    crs: str,
    res: float,
    margin: int,
    seed: int,
    no_data: tuple[slice, slice],
    **profile: Any,
) -> Path:
    """Write a random depth GeoTIFF in ``crs`` covering every household of ``registry``.

    Parameters
    ----------
    path
        The file to write.
    registry
        The households to cover, with ``margin`` cells to spare on each side.
    crs, res
        The raster's CRS and its cell size in that CRS's units.
    margin
        Cells beyond the households' extent.
    seed
        Seed of the depths (float32, 0 to 3 m, to the centimetre).
    no_data
        The cells set to no data (-9999).
    **profile
        Further creation options (tiling, ...).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, crs, always_xy=True).transform(registry.lon, registry.lat)
    left, top = float(np.min(x)) - margin * res, float(np.max(y)) + margin * res
    width = int((np.max(x) - left) / res) + margin + 1
    height = int((top - np.min(y)) / res) + margin + 1
    rng = np.random.default_rng(seed)
    values = np.round(rng.uniform(0, 3, (height, width)), 2).astype(np.float32)
    values[no_data] = -9999.0
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype="float32",
        crs=crs,
        transform=from_origin(left, top, res, res),
        nodata=-9999.0,
        **profile,
    ) as dst:
        dst.write(values, 1)
    return path
