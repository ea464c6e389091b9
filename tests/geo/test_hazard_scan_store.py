"""Stored raster scans: used for the same bytes, window, CRS and classes; never when damaged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import depth_field, write_raster

from rahat.geo.hazards import area, read_hazard
from rahat.geo.hazards.scan_store import scan_key


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAHAT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "hazards" / "scans"


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the validation passes that really run."""
    calls: list[int] = []
    real = area.scan_raster

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(area, "scan_raster", counted)
    return calls


def _same(a, b) -> None:
    assert (a.valid_count, a.minimum, a.maximum, a.infinite_count) == (
        b.valid_count,
        b.minimum,
        b.maximum,
        b.infinite_count,
    )
    assert np.array_equal(a.class_area_m2, b.class_area_m2)  # exact, not close


def test_a_stored_scan_equals_a_new_pass_and_skips_it(tmp_path, cache, scans) -> None:
    raster = write_raster(tmp_path / "depth.tif", depth_field(120, 160))
    first = read_hazard(raster, kind="flood_depth")
    second = read_hazard(raster, kind="flood_depth")
    assert len(scans) == 1 and len(list(cache.glob("*.json"))) == 1
    _same(first.stats, second.stats)


def test_other_classes_bytes_or_a_damaged_entry_scan_again(tmp_path, cache, scans) -> None:
    raster = write_raster(tmp_path / "depth.tif", depth_field(120, 160))
    base = read_hazard(raster, kind="flood_depth")
    other = read_hazard(raster, kind="flood_depth", classes={"thresholds": [0.1, 0.5, 2.0]})
    assert len(scans) == 2 and scan_key(base) != scan_key(other)
    assert not np.array_equal(base.stats.class_area_m2, other.stats.class_area_m2)
    changed = depth_field(120, 160)
    changed[0, 0] += 1.0
    write_raster(raster, changed)  # new bytes under the same name
    read_hazard(raster, kind="flood_depth")
    assert len(scans) == 3
    for entry in cache.glob("*.json"):
        entry.write_text(json.dumps({"valid_count": 1}))  # damaged: fields missing
    again = read_hazard(raster, kind="flood_depth")
    assert len(scans) == 4
    assert again.stats.valid_count > 1


def test_a_truncated_copy_is_refused_after_the_good_file_was_stored(tmp_path, cache) -> None:
    from rahat.geo.errors import InputError

    raster = write_raster(tmp_path / "depth.tif", depth_field(400, 400))
    read_hazard(raster, kind="flood_depth")
    data = raster.read_bytes()
    raster.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputError):
        read_hazard(raster, kind="flood_depth")
