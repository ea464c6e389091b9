"""Snapshots of plain registry files, kept in the cache and reused from run to run.

``rahat run --registry FILE`` (and ``sweep``, ``compare``, ``demo``, the API) import a plain
registry file into ``<cache>/snapshots/<key>/`` once, then memory-map that snapshot on every
later run (:mod:`rahat.geo.registry.snapshot`).

The key is the sha256 of the file's resolved path, size, modification time (ns) and inode,
not of its content: hashing a 40 M-household file costs seconds on every run, a ``stat`` costs
nothing. A file replaced or rewritten gets a new key (new size, time or inode); only a rewrite
in place that keeps the size and the nanosecond time, which ordinary tools never do, would go
unnoticed. The snapshot records the content sha256 of the file it came from.

A cached snapshot that fails its checks (truncated, damaged, another schema version) is rebuilt,
never used; two processes that need the same snapshot build it once (the folder is locked).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

from rahat.geo.errors import SnapshotError, UnreadableFileError
from rahat.geo.registry.model import Registry
from rahat.geo.registry.snapshot import SnapshotInfo, build_locked, load_snapshot, locked

#: Sub-folder of the cache folder holding imported snapshots.
SNAPSHOTS_DIR = "snapshots"

Notify = Callable[[str], None]


def _quiet(message: str) -> None:
    """A ``notify`` callback that tells nobody."""


def cache_key(path: Path) -> str:
    """Return the cache key of a registry file: a hash of its path, size, mtime and inode."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise UnreadableFileError(
            f"cannot open the file ({exc.strerror}); check the path", source=path
        ) from None
    text = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def snapshot_folder(path: Path, root: Path | None = None) -> Path:
    """Return the cache folder of the snapshot of registry file ``path``."""
    if root is None:
        from rahat.geo.paths import cache_dir

        root = cache_dir() / SNAPSHOTS_DIR
    return root / cache_key(path)


def _open(folder: Path, *, lock: bool) -> tuple[Registry, SnapshotInfo] | SnapshotError:
    try:
        return load_snapshot(folder, lock=lock)
    except SnapshotError as exc:
        return exc


def open_cached(
    path: str | Path,
    *,
    root: Path | None = None,
    notify: Notify | None = None,
    rejects_path: Path | None = None,
) -> tuple[Registry, SnapshotInfo]:
    """Return the households of a registry file from its cached snapshot, importing it once.

    Parameters
    ----------
    path
        Registry file (GeoParquet, Parquet, Feather or CSV).
    root
        Folder of the cached snapshots (default ``<cache_dir()>/snapshots``).
    notify
        Told, in one line, when the file is imported or a damaged snapshot is rebuilt.
    rejects_path
        When the file is imported and no row is valid, its rejected rows are written here
        before :class:`~rahat.geo.errors.EmptyDataError` is raised.

    Returns
    -------
    tuple
        The memory-mapped households and the snapshot's :class:`SnapshotInfo`.

    Raises
    ------
    SnapshotError
        If the cache folder cannot be written (read-only, full).
    """
    path = Path(path)
    tell = notify or _quiet
    folder = snapshot_folder(path, root)
    opened = _open(folder, lock=True) if folder.is_dir() else None
    if isinstance(opened, tuple):
        return opened
    with locked(folder, exclusive=True):
        opened = _open(folder, lock=False)  # another process may have built it meanwhile
        if isinstance(opened, tuple):
            return opened
        if any(folder.glob("*.json")) or any(folder.glob("*.arrow")):
            tell(f"cached snapshot {folder} is unusable ({opened.detail}); rebuilding it")
        started = time.perf_counter()
        info = build_locked(path, folder, rejects_path=rejects_path)
        tell(
            f"imported registry {path} into a snapshot ({info.households:,} households, "
            f"{info.rejected:,} rejected) in {time.perf_counter() - started:.1f} s; next runs "
            "reuse it"
        )
        return load_snapshot(folder, lock=False)
