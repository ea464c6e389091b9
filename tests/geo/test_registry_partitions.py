"""Partitions of a snapshot: contiguous runs along the Hilbert curve, listed in snapshot.json."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from rahat.api.cli.main import app as cli
from rahat.geo.registry.model import Registry
from rahat.geo.registry.order import canonical_order
from rahat.geo.registry.partitions import (
    Partition,
    curve_keys,
    partition_rows,
    plan_partitions,
)
from rahat.geo.registry.snapshot import META_FILE, import_registry, open_snapshot, read_info


@pytest.fixture(scope="module")
def registry_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rahat.geo.registry.synth import write_demo

    _, path = write_demo(3000, 4, tmp_path_factory.mktemp("registry"))
    return path


@pytest.fixture(scope="module")
def snapshot(registry_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("snapshot")
    import_registry(registry_file, folder, partitions=5)
    return folder


def check_partitions(registry: Registry, parts: tuple[Partition, ...], n: int) -> None:
    """Contiguous, covering, non-overlapping key ranges, bounds holding every point."""
    keys = curve_keys(registry)
    assert 1 <= len(parts) <= n
    assert parts[0].start == 0 and parts[-1].stop == len(registry)
    for i, part in enumerate(parts):
        assert part.index == i and part.households > 0
        assert part.key_min == keys[part.start] and part.key_max == keys[part.stop - 1]
        lon, lat = registry.lon[part.start : part.stop], registry.lat[part.start : part.stop]
        west, south, east, north = part.bounds
        assert (west, south, east, north) == (lon.min(), lat.min(), lon.max(), lat.max())
    for before, after in itertools.pairwise(parts):
        assert before.stop == after.start
        assert before.key_max < after.key_min  # no key in two partitions


def test_a_snapshot_lists_balanced_partitions_along_the_curve(snapshot: Path) -> None:
    info = read_info(snapshot)
    registry = open_snapshot(snapshot)
    check_partitions(registry, info.partitions, 5)
    assert len(info.partitions) == 5
    sizes = [part.households for part in info.partitions]
    assert max(sizes) - min(sizes) < 0.2 * len(registry) / 5
    written = json.loads((snapshot / META_FILE).read_text())["partitions"]
    assert [Partition.from_json(p) for p in written] == list(info.partitions)


def test_a_partition_is_its_rows_sharing_the_snapshot_memory(snapshot: Path) -> None:
    registry = open_snapshot(snapshot)
    part = read_info(snapshot).partitions[2]
    rows = partition_rows(registry, part)
    ids = rows.household_id
    np.testing.assert_array_equal(ids, registry.household_id[part.start : part.stop])
    assert np.shares_memory(ids, registry.household_id)
    with pytest.raises(ValueError, match="does not fit"):
        partition_rows(registry, Partition(9, 0, len(registry) + 1, 0, 0, (0, 0, 0, 0)))


def test_equal_keys_never_span_two_partitions() -> None:
    # 60 households at one point, then 40 spread out: a cut inside the 60 moves to their start
    n = 100
    lon = np.r_[np.full(60, 68.0), np.linspace(60.0, 77.0, 40)]
    lat = np.r_[np.full(60, 27.0), np.linspace(24.0, 36.0, 40)]
    frame = pd.DataFrame({"household_id": np.arange(n, dtype=np.int64), "lon": lon, "lat": lat})
    registry = canonical_order(Registry.from_frame(frame))
    keys = curve_keys(registry)
    parts = plan_partitions(registry, 4)
    check_partitions(registry, parts, 4)
    crowded = keys[np.flatnonzero(registry.lon == 68.0)[0]]
    assert sum(part.key_min <= crowded <= part.key_max for part in parts) == 1


def test_fewer_keys_than_partitions_and_bad_requests() -> None:
    frame = pd.DataFrame(
        {"household_id": np.arange(6, dtype=np.int64), "lon": [68.0] * 3 + [70.0] * 3,
         "lat": [27.0] * 3 + [30.0] * 3}
    )  # fmt: skip
    registry = canonical_order(Registry.from_frame(frame))
    parts = plan_partitions(registry, 6)
    assert [(p.start, p.stop) for p in parts] == [(0, 3), (3, 6)]
    assert plan_partitions(registry, 1) == (
        Partition(0, 0, 6, int(curve_keys(registry)[0]), int(curve_keys(registry)[-1]),
                  (68.0, 27.0, 70.0, 30.0)),
    )  # fmt: skip
    for bad in (0, 5000):
        with pytest.raises(ValueError, match="between 1 and"):
            plan_partitions(registry, bad)
    shuffled = registry.take(np.array([3, 0, 4, 1, 5, 2]))
    with pytest.raises(ValueError, match="canonical order"):
        plan_partitions(shuffled, 2)
    nan = Partition(0, 0, 1, 0, 0, (math.nan,) * 4)  # type: ignore[arg-type]
    assert nan.to_json()["bounds"] == [None] * 4
    assert math.isnan(Partition.from_json(nan.to_json()).bounds[0])


def test_the_cli_writes_partitions_only_when_asked(registry_file: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    plain = runner.invoke(
        cli, ["registry", "import", str(registry_file), "--out", str(tmp_path / "a")]
    )
    assert plain.exit_code in (0, 1), plain.output
    assert read_info(tmp_path / "a").partitions == ()
    split = runner.invoke(
        cli,
        ["registry", "import", str(registry_file), "--out", str(tmp_path / "b"),
         "--partitions", "3", "--json"],
    )  # fmt: skip
    assert split.exit_code in (0, 1), split.output
    assert len(json.loads(split.stdout)["partitions"]) == 3
    refused = runner.invoke(
        cli, ["registry", "import", str(registry_file), "--out", str(tmp_path / "c"),
              "--partitions", "0"],
    )  # fmt: skip
    assert refused.exit_code == 2
