"""Prepared vector footprints: repaired once, stored by sha256, never used when damaged.

Issue 12: a complex agency footprint (thousands of invalid parts) was repaired with repeated
``make_valid`` and ``union_all`` calls on every read. It is now repaired part by part with at
most one ``make_valid`` call and no union, and the repaired layer is stored as GeoParquet under
the source file's sha256, with its warnings; a damaged entry is detected and rebuilt.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import shapely
from testkit import count_calls

from rahat.geo.errors import TooLargeError
from rahat.geo.hazards import HazardLimits, read_hazard
from rahat.geo.hazards import prepared as prepared_mod
from rahat.geo.hazards import vector as vector_mod
from rahat.geo.hazards.synthetic_footprint import write_complex_footprint

#: Small enough to be fast, large enough (about 21,000 vertices) to be stored.
N_PARTS = 300


@pytest.fixture(scope="module")
def footprint(tmp_path_factory) -> dict[str, Path]:
    """The synthetic invalid flood extent as a zipped Shapefile and as GeoJSON."""
    return write_complex_footprint(tmp_path_factory.mktemp("footprint"), n_parts=N_PARTS)


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    """An empty cache folder; returns the prepared store's folder inside it."""
    monkeypatch.setenv("RAHAT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "hazards" / "prepared"


def _entries(folder: Path) -> tuple[list[Path], list[Path]]:
    return sorted(folder.glob("*.json")), sorted(folder.glob("*.parquet"))


def _same_layer(a, b) -> None:
    assert a.crs.equals(b.crs)
    assert list(a.vector.columns) == list(b.vector.columns)
    assert np.array_equal(a.vector["value"].to_numpy(), b.vector["value"].to_numpy())
    # WKB equality: the very same coordinates, parts and order
    assert shapely.to_wkb(a.vector.geometry.values).tolist() == (
        shapely.to_wkb(b.vector.geometry.values).tolist()
    )
    assert a.warnings == b.warnings


def _no_file_read(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the source file was read again instead of the stored layer")

    monkeypatch.setattr(vector_mod, "_read_frame", refuse)


@pytest.mark.parametrize("fmt", ["shapefile_zip", "geojson"])
def test_stored_layer_round_trip_equals_the_fresh_one(footprint, store, monkeypatch, fmt) -> None:
    fresh = read_hazard(footprint[fmt], kind="flood_extent")
    assert any("repaired 1 invalid geometries" in w for w in fresh.warnings)
    sidecars, parquets = _entries(store)
    assert len(sidecars) == 1 and len(parquets) == 1
    meta = json.loads(sidecars[0].read_text())
    assert meta["schema"] == prepared_mod.SCHEMA_VERSION
    assert meta["bytes"] == parquets[0].stat().st_size
    assert meta["warnings"] == list(fresh.warnings)
    _no_file_read(monkeypatch)
    again = read_hazard(footprint[fmt], kind="flood_extent")
    _same_layer(fresh, again)


def test_repair_is_one_make_valid_and_no_union(footprint, store, monkeypatch) -> None:
    calls = count_calls(monkeypatch, shapely, ["make_valid", "union_all", "unary_union"])
    layer = read_hazard(footprint["shapefile_zip"], kind="flood_extent")
    assert calls == {"make_valid": 1, "union_all": 0, "unary_union": 0}
    assert layer.vector.geometry.iloc[0].geom_type == "GeometryCollection"
    assert shapely.is_valid(layer.vector.geometry.values).all()
    read_hazard(footprint["shapefile_zip"], kind="flood_extent")  # from the store
    assert calls == {"make_valid": 1, "union_all": 0, "unary_union": 0}


def _truncate(parquet: Path, sidecar: Path) -> None:
    parquet.write_bytes(parquet.read_bytes()[:-100])


def _flip_byte(parquet: Path, sidecar: Path) -> None:
    data = bytearray(parquet.read_bytes())
    data[len(data) // 2] ^= 0xFF
    parquet.write_bytes(bytes(data))


def _old_schema(parquet: Path, sidecar: Path) -> None:
    meta = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps(meta | {"schema": 0}))


def _short_sidecar(parquet: Path, sidecar: Path) -> None:
    sidecar.write_text(sidecar.read_text()[:20])


def _missing_parquet(parquet: Path, sidecar: Path) -> None:
    parquet.unlink()


def _outside_path(parquet: Path, sidecar: Path) -> None:
    meta = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps(meta | {"parquet": "../../elsewhere.parquet"}))


@pytest.mark.parametrize(
    "damage",
    [_truncate, _flip_byte, _old_schema, _short_sidecar, _missing_parquet, _outside_path],
)
def test_damaged_store_is_detected_and_rebuilt(footprint, store, damage, caplog) -> None:
    fresh = read_hazard(footprint["geojson"], kind="flood_extent")
    (sidecar,), (parquet,) = _entries(store)
    damage(parquet, sidecar)
    with caplog.at_level(logging.WARNING, logger=prepared_mod.__name__):
        again = read_hazard(footprint["geojson"], kind="flood_extent")
    assert "ignoring the stored footprint" in caplog.text
    _same_layer(fresh, again)
    key = sidecar.name.removesuffix(".json")
    rebuilt = prepared_mod.load_prepared(key, store)
    assert rebuilt is not None
    assert shapely.to_wkb(rebuilt.frame.geometry.values).tolist() == (
        shapely.to_wkb(fresh.vector.geometry.values).tolist()
    )


def test_limits_are_checked_on_a_stored_layer(footprint, store) -> None:
    read_hazard(footprint["geojson"], kind="flood_extent")
    assert len(_entries(store)[0]) == 1
    with pytest.raises(TooLargeError, match="vertices"):
        read_hazard(
            footprint["geojson"], kind="flood_extent", limits=HazardLimits(max_vertices=1000)
        )


def test_options_that_change_the_layer_have_their_own_entry(footprint, store) -> None:
    plain = read_hazard(footprint["geojson"], kind="flood_extent")
    field = read_hazard(footprint["geojson"], kind="flood_extent", intensity_field="flooded")
    sidecars, _ = _entries(store)
    assert len(sidecars) == 2
    assert plain.vector["value"].tolist() == [1.0] and field.vector["value"].tolist() == [1.0]


def _build(path: str, cache: str, rounds: int, queue) -> None:
    import os

    os.environ["RAHAT_CACHE_DIR"] = cache
    out = []
    for _ in range(rounds):
        layer = read_hazard(path, kind="flood_extent")
        out.append(shapely.to_wkb(layer.vector.geometry.iloc[0]))
        key = next(Path(cache).glob("hazards/prepared/*.json")).name.removesuffix(".json")
        prepared_mod.store_prepared(  # race the other process's writes on purpose
            key,
            prepared_mod.Prepared(layer.vector, layer.warnings, len(layer.vector), 1),
        )
    queue.put(out)


def test_two_processes_building_at_once_leave_a_valid_store(footprint, tmp_path) -> None:
    cache = tmp_path / "cache"
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    args = (str(footprint["geojson"]), str(cache), 4, queue)
    workers = [context.Process(target=_build, args=args) for _ in range(2)]
    for w in workers:
        w.start()
    results = [queue.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    folder = cache / "hazards" / "prepared"
    assert not list(folder.glob(".*.tmp")), "a temporary file was left behind"
    ((sidecar,), _) = _entries(folder)
    entry = prepared_mod.load_prepared(sidecar.name.removesuffix(".json"), folder)
    assert entry is not None
    expected = shapely.to_wkb(entry.frame.geometry.iloc[0])
    assert all(wkb == expected for out in results for wkb in out)


def test_cache_that_cannot_be_written_never_fails_the_read(
    footprint, tmp_path, monkeypatch, caplog
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("RAHAT_CACHE_DIR", str(blocker / "cache"))
    with caplog.at_level(logging.WARNING, logger=prepared_mod.__name__):
        layer = read_hazard(footprint["geojson"], kind="flood_extent")
    assert "is not stored" in caplog.text and "RAHAT_CACHE_DIR" in caplog.text
    assert shapely.is_valid(layer.vector.geometry.values).all()


def test_full_disk_never_fails_the_read(footprint, store, monkeypatch, caplog) -> None:
    def full(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(prepared_mod, "_atomic_write", full)
    with caplog.at_level(logging.WARNING, logger=prepared_mod.__name__):
        layer = read_hazard(footprint["geojson"], kind="flood_extent")
    assert "No space left on device" in caplog.text
    assert any("repaired" in w for w in layer.warnings)
    assert not list(store.glob("*.json"))


def test_warnings_survive_the_store_into_the_run_warnings(store, monkeypatch) -> None:
    from rahat.engine.pipeline import hazard_warnings, load_hazards
    from rahat.engine.targeting import load_scenario
    from rahat.geo.paths import scenarios_dir

    scenario = load_scenario(scenarios_dir() / "anticipatory_mom_2022.yaml")
    first = hazard_warnings(load_hazards(scenario))
    assert any(": repaired" in w for w in first), first
    assert len(_entries(store)[0]) >= 1
    _no_file_read(monkeypatch)
    assert hazard_warnings(load_hazards(scenario)) == first
