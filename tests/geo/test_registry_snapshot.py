"""Registry snapshots: round trip, damaged files, concurrent builders, unwritable folders, order.

A snapshot must hold exactly the validated registry (column by column, dtypes included, in
canonical order), be opened without copying its columns, and never be used when it is
truncated, altered, of another schema version or incomplete.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from testkit import run_concurrently

from rahat.geo.errors import EmptyDataError, SnapshotError
from rahat.geo.registry.order import canonical_order, hilbert_keys
from rahat.geo.registry.snapshot import (
    ARROW_FILE,
    META_FILE,
    REJECTS_FILE,
    import_registry,
    is_snapshot,
    open_snapshot,
    read_info,
    verify_snapshot,
)
from rahat.geo.registry.snapshot_cache import open_cached
from rahat.geo.registry.validate import read_registry

N_BAD = 4


@pytest.fixture(scope="module")
def registry_file(tmp_path_factory) -> Path:
    """A small demo registry with nulls in every nullable column and a few invalid rows."""
    from rahat.geo.registry.io import write_registry
    from rahat.geo.registry.synth import write_demo

    folder = tmp_path_factory.mktemp("registry")
    _, path = write_demo(2500, 11, folder)
    frame = read_registry(path).registry.frame.copy()
    rng = np.random.default_rng(3)
    accuracy = rng.uniform(0, 80, len(frame)).astype(np.float32)
    accuracy[::7] = np.nan
    frame["location_accuracy_m"] = accuracy
    frame.loc[frame.index[::5], "registered_on"] = pd.NaT
    frame.loc[frame.index[::9], "programmes"] = np.nan
    frame.loc[frame.index[::11], "tehsil"] = np.nan
    frame.loc[frame.index[-N_BAD:], "pmt_score"] = 150.0  # rejected
    frame = frame.sample(frac=1.0, random_state=5)  # not in id order
    out = folder / "registry-with-nulls.parquet"
    write_registry(frame, out)
    return out


@pytest.fixture(scope="module")
def snapshot(registry_file, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("snap") / "snapshot"
    import_registry(registry_file, folder)
    return folder


def _copy(snapshot: Path, tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(snapshot, target)
    return target


def test_round_trip_equals_the_validated_registry_column_by_column(registry_file, snapshot) -> None:
    expected = canonical_order(read_registry(registry_file).registry).frame
    got = open_snapshot(snapshot).frame
    assert list(got.columns) == list(expected.columns)
    assert isinstance(got.index, pd.RangeIndex)
    for name in expected.columns:
        assert got[name].dtype == expected[name].dtype, name
        pd.testing.assert_series_equal(got[name], expected[name], check_exact=True)
        if isinstance(expected[name].dtype, pd.CategoricalDtype):
            assert np.array_equal(got[name].array.codes, expected[name].array.codes), name
    assert got["registered_on"].isna().any() and got["programmes"].isna().any()
    assert got["location_accuracy_m"].isna().any()

    info = read_info(snapshot)
    assert info.households == len(expected)
    assert info.rejected == N_BAD == len(pd.read_csv(snapshot / REJECTS_FILE))
    assert info.total_rows == len(expected) + N_BAD
    assert info.bounds == pytest.approx(
        (got["lon"].min(), got["lat"].min(), got["lon"].max(), got["lat"].max())
    )
    assert info.source_name == registry_file.name and len(info.source_sha256) == 64
    assert is_snapshot(snapshot) and is_snapshot(snapshot / META_FILE)
    assert not is_snapshot(registry_file)


def test_columns_are_memory_mapped_not_copied(snapshot) -> None:
    registry = open_snapshot(snapshot)
    for name in ("household_id", "lon", "lat", "pmt_score", "female_headed", "last_updated"):
        values = registry.frame[name].to_numpy()
        assert not values.flags.writeable and not values.flags.owndata, name
    codes = registry.frame["district"].array.codes
    assert not codes.flags.writeable and not codes.flags.owndata


def test_a_truncated_file_is_refused(snapshot, tmp_path) -> None:
    folder = _copy(snapshot, tmp_path)
    arrow = folder / ARROW_FILE
    arrow.write_bytes(arrow.read_bytes()[:-100])
    with pytest.raises(SnapshotError, match=r"truncated or changed.*rahat registry import"):
        open_snapshot(folder)
    with pytest.raises(SnapshotError, match="truncated"):
        verify_snapshot(folder)


def test_a_flipped_byte_passes_the_cheap_check_and_fails_verify(snapshot, tmp_path) -> None:
    folder = _copy(snapshot, tmp_path)
    lon0 = open_snapshot(folder).frame["lon"].to_numpy()[0]
    data = bytearray((folder / ARROW_FILE).read_bytes())
    at = data.find(np.float64(lon0).tobytes())
    assert at > 0
    data[at] ^= 0x01
    (folder / ARROW_FILE).write_bytes(bytes(data))
    assert open_snapshot(folder).frame["lon"].to_numpy()[0] != lon0  # cheap check: same size
    with pytest.raises(SnapshotError, match=r"sha256.*corrupt or changed"):
        verify_snapshot(folder)
    assert verify_snapshot(snapshot).households == read_info(snapshot).households


def test_wrong_schema_version_and_missing_metadata_are_refused(snapshot, tmp_path) -> None:
    folder = _copy(snapshot, tmp_path)
    meta = json.loads((folder / META_FILE).read_text())
    (folder / META_FILE).write_text(json.dumps({**meta, "schema_version": 99}))
    with pytest.raises(SnapshotError, match="schema version 99"):
        open_snapshot(folder)
    (folder / META_FILE).write_text("{not json")
    with pytest.raises(SnapshotError, match="unreadable"):
        open_snapshot(folder)
    (folder / META_FILE).unlink()
    with pytest.raises(SnapshotError, match="not a registry snapshot"):
        open_snapshot(folder)
    assert not is_snapshot(folder)


def test_a_file_that_is_not_arrow_is_refused(snapshot, tmp_path) -> None:
    folder = _copy(snapshot, tmp_path)
    size = (folder / ARROW_FILE).stat().st_size
    (folder / ARROW_FILE).write_bytes(b"\0" * size)  # same size: only the reader notices
    with pytest.raises(SnapshotError, match="not a readable Arrow file"):
        open_snapshot(folder)


def test_a_damaged_cached_snapshot_is_rebuilt(registry_file, tmp_path) -> None:
    told: list[str] = []
    root = tmp_path / "cache"
    registry, info = open_cached(registry_file, root=root, notify=told.append)
    assert len(told) == 1 and "imported registry" in told[0] and "next runs reuse it" in told[0]
    assert info.rejected == N_BAD
    open_cached(registry_file, root=root, notify=told.append)
    assert len(told) == 1  # reused
    expected = registry.frame.copy(deep=True)
    del registry  # truncating a mapped file in place would fault on its pages (SIGBUS)
    arrow = info.folder / ARROW_FILE
    arrow.write_bytes(arrow.read_bytes()[:1000])
    again, _ = open_cached(registry_file, root=root, notify=told.append)
    assert "unusable" in told[1] and "rebuilding" in told[1] and "imported" in told[2]
    pd.testing.assert_frame_equal(again.frame, expected)


def test_an_empty_registry_is_refused_with_its_rejects(registry_file, tmp_path) -> None:
    from rahat.geo.registry.io import write_registry

    frame = read_registry(registry_file).registry.frame.copy()
    frame["pmt_score"] = np.float32(150.0)
    bad = write_registry(frame, tmp_path / "bad.parquet")
    with pytest.raises(EmptyDataError, match="no valid household"):
        import_registry(bad, tmp_path / "snap", rejects_path=tmp_path / "rejects.csv")
    assert len(pd.read_csv(tmp_path / "rejects.csv")) == len(frame)
    assert not is_snapshot(tmp_path / "snap")


_BUILDER = """
import sys
from pathlib import Path
from rahat.geo.registry.snapshot_cache import open_cached
registry, info = open_cached(Path(sys.argv[1]), root=Path(sys.argv[2]), notify=print)
print("households", len(registry))
"""


def test_concurrent_builders_build_one_valid_snapshot(registry_file, tmp_path) -> None:
    root = tmp_path / "cache"
    stdout = "".join(run_concurrently(_BUILDER, str(registry_file), str(root)))
    assert stdout.count("imported registry") == 1  # the other one waited, then reused it
    assert len({line for line in stdout.splitlines() if line.startswith("households")}) == 1
    (folder,) = root.iterdir()
    verify_snapshot(folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [ARROW_FILE, META_FILE, REJECTS_FILE, ".lock"]
    )


def test_concurrent_imports_into_one_folder_leave_a_valid_snapshot(registry_file, tmp_path) -> None:
    script = (
        "import sys; from rahat.geo.registry.snapshot import import_registry; "
        "import_registry(sys.argv[1], sys.argv[2])"
    )
    folder = tmp_path / "snap"
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(registry_file), str(folder)])
        for _ in range(2)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert verify_snapshot(folder).households == read_info(folder).households
    assert not [p for p in folder.iterdir() if p.name.startswith(".") and p.name != ".lock"]


@pytest.mark.parametrize(
    ("code", "message"),
    [(errno.EROFS, "read-only"), (errno.EACCES, "read-only"), (errno.ENOSPC, "full")],
)
def test_an_unwritable_cache_folder_gives_a_clear_error(
    registry_file, tmp_path, monkeypatch, code, message
) -> None:
    real_open = os.open

    def refuse(path, flags, *args, **kwargs):
        if str(path).endswith(".lock") and flags & os.O_CREAT:
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(
        SnapshotError, match=f"cannot write the registry snapshot here: .*{message}"
    ):
        open_cached(registry_file, root=tmp_path / "cache")


def test_a_full_disk_while_writing_gives_a_clear_error(
    registry_file, tmp_path, monkeypatch
) -> None:
    from rahat.geo.registry import snapshot as module

    def full(registry, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(module, "_write_arrow", full)
    with pytest.raises(SnapshotError, match="disk holding it is full"):
        import_registry(registry_file, tmp_path / "snap")
    assert not is_snapshot(tmp_path / "snap")
    assert not list((tmp_path / "snap").glob("*.arrow"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_cache_folder_gives_a_clear_error(registry_file, tmp_path) -> None:
    root = tmp_path / "cache"
    root.mkdir()
    root.chmod(0o555)
    try:
        with pytest.raises(SnapshotError, match="read-only"):
            open_cached(registry_file, root=root)
    finally:
        root.chmod(0o755)


# ------------------------------------------------------------------------------ Hilbert order


@pytest.mark.parametrize("order", [1, 3, 6])
def test_consecutive_hilbert_keys_are_neighbouring_cells(order) -> None:
    side = 1 << order
    iy, ix = np.mgrid[0:side, 0:side]
    lon, lat = ix.ravel() + 0.5, iy.ravel() + 0.5
    keys = hilbert_keys(lon, lat, (0.0, 0.0, float(side), float(side)), order=order)
    assert np.array_equal(np.sort(keys), np.arange(side * side))  # one key per cell
    walk = np.argsort(keys)
    steps = np.abs(np.diff(ix.ravel()[walk])) + np.abs(np.diff(iy.ravel()[walk]))
    assert np.all(steps == 1)


def test_canonical_order_does_not_depend_on_row_order(registry_file) -> None:
    registry = read_registry(registry_file).registry
    shuffled = registry.take(np.random.default_rng(1).permutation(len(registry)))
    a, b = canonical_order(registry).frame, canonical_order(shuffled).frame
    pd.testing.assert_frame_equal(a, b)
    ids = a["household_id"].to_numpy()
    lon, lat = a["lon"].to_numpy(), a["lat"].to_numpy()
    keys = hilbert_keys(lon, lat, (lon.min(), lat.min(), lon.max(), lat.max()))
    assert np.all(np.diff(keys.astype(np.int64)) >= 0)
    ties = np.diff(keys.astype(np.int64)) == 0
    assert np.all(np.diff(ids)[ties] > 0)  # ties broken by household id
