"""Stored exposures (issue 12, item 2): the overlay of a snapshot written once, mapped after.

A run from a snapshot and a stored exposure writes the same bytes as a run from the raw file;
a second run does no overlay; a changed hazard file, classes override, radius or snapshot is a
new entry; damaged entries are rebuilt, never used; concurrent builders leave one valid entry;
the store keeps to its size cap; an unwritable store never fails a run.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin
from testkit import run_concurrently

from rahat.engine import exposure_cache as pipeline  # where the overlays are made
from rahat.engine import exposure_store as stores
from rahat.engine.pipeline import ExposureCache, load_hazards, load_registry, run_scenario
from rahat.engine.targeting import load_scenario
from rahat.engine.targeting.scenario import Scenario
from rahat.geo.registry.model import Registry
from rahat.geo.registry.snapshot import import_registry

RES = 0.02  # degrees per cell of the test raster


def _write_raster(path: Path, registry: Registry, seed: int = 11) -> Path:
    """A random float32 depth raster (EPSG:4326) covering every household."""
    left, bottom, right, top = registry.bounds()
    width = int((right - left) / RES) + 4
    height = int((top - bottom) / RES) + 4
    values = np.random.default_rng(seed).uniform(0, 3, (height, width)).astype(np.float32)
    profile = {"driver": "GTiff", "width": width, "height": height, "count": 1}
    with rasterio.open(
        path,
        "w",
        **profile,
        dtype="float32",
        crs="EPSG:4326",
        transform=from_origin(left - 2 * RES, top + 2 * RES, RES, RES),
        nodata=-9999.0,
    ) as dst:
        dst.write(values, 1)
    return path


def _scenario(path: Path, **layer: object) -> Scenario:
    return load_scenario(
        {
            "name": "stored",
            "hazards": [{"name": "depth", "path": str(path), "kind": "flood_depth", **layer}],
            "eligibility": {"pmt_cutoff": 40, "hazard": [{"layer": "depth", "min_class": 1}]},
            "benefit": {"kind": "fixed", "amount": 1000},
            "budget": {"max_households": 400},
            "quotas": {"level": "district", "mode": "proportional"},
        }
    )


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 2,500-household registry file, its snapshot, a second snapshot, a depth raster."""
    from rahat.geo.registry.synth import write_demo

    folder = tmp_path_factory.mktemp("inputs")
    _, raw = write_demo(2500, 5, folder / "a")
    _, other = write_demo(2000, 6, folder / "b")
    import_registry(raw, folder / "snap")
    import_registry(other, folder / "snap2")
    registry = load_registry(folder / "snap").registry
    raster = _write_raster(folder / "depth.tif", registry)
    return {"raw": raw, "snap": folder / "snap", "snap2": folder / "snap2", "raster": raster}


@pytest.fixture(scope="module")
def zones() -> list[object]:
    """The default zone layers, read once (their polygon indexes built once)."""
    from rahat.engine.zones import default_zone_layers

    return default_zone_layers()


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zones: list[object]) -> None:
    monkeypatch.setenv("RAHAT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(stores.CAP_ENV, raising=False)
    monkeypatch.setattr(pipeline, "default_zone_layers", lambda: list(zones))


@pytest.fixture
def overlays(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the overlays computed (one element per call)."""
    calls: list[int] = []
    real = pipeline.overlay

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "overlay", counted)
    return calls


def _exposure(snapshot: Path, scenario: Scenario) -> object:
    """The scenario's exposure on a freshly opened snapshot, through a fresh cache."""
    registry = load_registry(snapshot).registry
    hazards = load_hazards(scenario, registry_extent=registry.bounds())
    return ExposureCache().exposure(registry, hazards, scenario)


def _entries(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "exposures").glob("*.json"))


def test_a_stored_exposure_gives_the_bytes_of_a_raw_run_without_an_overlay(
    inputs, tmp_path, monkeypatch, overlays
) -> None:
    import rahat.engine.targeting as targeting

    files = ("caseload.parquet", "caseload.csv", "summary.csv")
    quick = functools.partial(targeting.write_outputs, formats=("parquet", "csv", "summary"))
    monkeypatch.setattr(targeting, "write_outputs", quick)
    scenario = _scenario(inputs["raster"])
    run_scenario(scenario, out_dir=tmp_path / "raw", registry_path=inputs["raw"])
    assert len(overlays) == 1 and not _entries(tmp_path)  # a raw file is not stored
    for name in ("cold", "warm"):
        run_scenario(scenario, out_dir=tmp_path / name, registry=load_registry(inputs["snap"]))
    assert len(overlays) == 2  # the warm run mapped the stored exposure
    assert len(_entries(tmp_path)) == 1
    for name in files:
        raw = (tmp_path / "raw" / name).read_bytes()
        assert (tmp_path / "cold" / name).read_bytes() == raw, name
        assert (tmp_path / "warm" / name).read_bytes() == raw, name


def test_a_loaded_exposure_is_memory_mapped_and_equal(inputs, overlays) -> None:
    scenario = _scenario(inputs["raster"])
    built, loaded = _exposure(inputs["snap"], scenario), _exposure(inputs["snap"], scenario)
    assert len(overlays) == 1
    for name, hazard in built.hazards.items():  # type: ignore[attr-defined]
        got = loaded.hazards[name]  # type: ignore[attr-defined]
        assert got.intensity.dtype == hazard.intensity.dtype == np.float32
        np.testing.assert_array_equal(got.intensity, hazard.intensity)
        np.testing.assert_array_equal(got.hazard_class, hazard.hazard_class)
        assert (got.class_labels, got.sha256, got.units) == (
            hazard.class_labels,
            hazard.sha256,
            hazard.units,
        )
        assert not got.intensity.flags.writeable  # a view of the mapped file
    assert list(loaded.zones) == list(built.zones)  # type: ignore[attr-defined]
    for name, zone in built.zones.items():  # type: ignore[attr-defined]
        got = loaded.zones[name]  # type: ignore[attr-defined]
        np.testing.assert_array_equal(got.codes, zone.codes)
        assert got.codes.dtype == np.int32
        pd.testing.assert_frame_equal(got.table, zone.table)


@pytest.mark.parametrize("change", ["hazard file", "classes", "radius", "snapshot"])
def test_a_changed_input_is_a_new_entry(inputs, tmp_path, overlays, change) -> None:
    raster = tmp_path / "depth.tif"
    raster.write_bytes(inputs["raster"].read_bytes())
    scenario, snapshot = _scenario(raster), inputs["snap"]
    first = _exposure(snapshot, scenario)
    if change == "hazard file":
        _write_raster(raster, first.registry, seed=12)  # type: ignore[attr-defined]
    elif change == "classes":
        scenario = _scenario(raster, classes={"thresholds": [0.1, 1.0, 2.5]})
    elif change == "radius":
        scenario = _scenario(raster, radius_m=3000)
    else:
        snapshot = inputs["snap2"]
    second = _exposure(snapshot, scenario)
    assert len(overlays) == 2 and len(_entries(tmp_path)) == 2
    a = first.hazards["depth"]  # type: ignore[attr-defined]
    b = second.hazards["depth"]  # type: ignore[attr-defined]
    if change == "snapshot":
        assert len(b.intensity) != len(a.intensity)
    else:
        changed = "intensity" if change != "classes" else "hazard_class"
        assert not np.array_equal(getattr(a, changed), getattr(b, changed))
    _exposure(snapshot, scenario)  # the changed inputs are stored too
    assert len(overlays) == 2


def _damage(entry: Path, how: str) -> None:
    meta = json.loads(entry.read_text())
    arrow = entry.parent / meta["arrow"]
    data = bytearray(arrow.read_bytes())
    if how == "truncated":
        arrow.write_bytes(bytes(data[: len(data) // 2]))
    elif how == "flipped byte":
        data[len(data) // 2] ^= 0xFF
        arrow.write_bytes(bytes(data))
    elif how == "wrong version":
        entry.write_text(json.dumps({**meta, "schema": stores.SCHEMA_VERSION + 1}))
    elif how == "bad sidecar":
        entry.write_text("{not json")
    elif how == "missing file":
        arrow.unlink()


@pytest.mark.parametrize(
    "how", ["truncated", "flipped byte", "wrong version", "bad sidecar", "missing file"]
)
def test_a_damaged_entry_is_rebuilt_never_used(inputs, tmp_path, overlays, caplog, how) -> None:
    scenario = _scenario(inputs["raster"])
    built = _exposure(inputs["snap"], scenario)
    (entry,) = _entries(tmp_path)
    _damage(entry, how)
    with caplog.at_level(logging.WARNING, logger=stores.__name__):
        rebuilt = _exposure(inputs["snap"], scenario)
    assert len(overlays) == 2
    assert "ignoring the stored exposure" in caplog.text
    np.testing.assert_array_equal(
        rebuilt.hazards["depth"].intensity,  # type: ignore[attr-defined]
        built.hazards["depth"].intensity,  # type: ignore[attr-defined]
    )
    _exposure(inputs["snap"], scenario)  # the rebuilt entry is intact
    assert len(overlays) == 2


_BUILDER = """
import sys
from rahat.engine.pipeline import ExposureCache, load_hazards, load_registry
from rahat.engine.targeting import load_scenario

scenario = load_scenario({
    "name": "stored",
    "hazards": [{"name": "depth", "path": sys.argv[2], "kind": "flood_depth"}],
    "eligibility": {"hazard": [{"layer": "depth", "min_class": 1}]},
    "benefit": {"kind": "fixed", "amount": 1000},
})
registry = load_registry(sys.argv[1]).registry
hazards = load_hazards(scenario, registry_extent=registry.bounds())
exposure = ExposureCache().exposure(registry, hazards, scenario)
print(int(exposure.hazards["depth"].hazard_class.sum()))
"""


def test_concurrent_builders_leave_one_valid_entry(inputs, tmp_path) -> None:
    outputs = run_concurrently(_BUILDER, str(inputs["snap"]), str(inputs["raster"]))
    assert len(set(outputs)) == 1
    (entry,) = _entries(tmp_path)
    folder = entry.parent
    assert sorted(p.suffix for p in folder.iterdir()) == [".arrow", ".json"]  # no temp left
    registry = load_registry(inputs["snap"]).registry
    assert stores.load_exposure(entry.stem, registry, folder) is not None


def test_the_store_keeps_to_its_cap_least_recently_used_first(
    inputs, tmp_path, monkeypatch, overlays
) -> None:
    scenarios = [_scenario(inputs["raster"], radius_m=r) for r in (0, 2000, 4000)]
    _exposure(inputs["snap"], scenarios[0])
    (entry,) = _entries(tmp_path)
    size = sum(p.stat().st_size for p in entry.parent.glob("*.arrow"))
    monkeypatch.setattr(stores, "cap_bytes", lambda: 2 * size + 4096)  # room for two
    _exposure(inputs["snap"], scenarios[1])
    _exposure(inputs["snap"], scenarios[0])  # used: now the most recent
    _exposure(inputs["snap"], scenarios[2])  # evicts scenarios[1]'s entry
    assert len(overlays) == 3 and len(_entries(tmp_path)) == 2
    total = sum(p.stat().st_size for p in entry.parent.glob("*.arrow"))
    assert total <= stores.cap_bytes()
    _exposure(inputs["snap"], scenarios[0])
    _exposure(inputs["snap"], scenarios[2])
    assert len(overlays) == 3
    _exposure(inputs["snap"], scenarios[1])
    assert len(overlays) == 4


def test_an_unwritable_store_warns_and_the_run_goes_on(
    inputs, tmp_path, monkeypatch, overlays, caplog
) -> None:
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(stores, "_write_unique", full)
    scenario = _scenario(inputs["raster"])
    with caplog.at_level(logging.WARNING, logger=stores.__name__):
        exposure = _exposure(inputs["snap"], scenario)
    assert "depth" in exposure.hazards  # type: ignore[attr-defined]
    assert "the exposure is not stored" in caplog.text and "No space left" in caplog.text
    assert not _entries(tmp_path)


def test_a_bad_cap_setting_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setenv(stores.CAP_ENV, "lots")
    with pytest.raises(stores.ExposureCacheSettingError, match="RAHAT_EXPOSURE_CACHE_MB"):
        stores.cap_bytes()
    monkeypatch.setenv(stores.CAP_ENV, "0")
    assert stores.cap_bytes() == 0
