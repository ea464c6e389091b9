"""Whole folders written atomically: built under a temporary name, synced, then renamed.

A run's outputs are written into a temporary sibling folder (``.tmp-<hex>-<name>``) and the
folder is renamed into place once every file is written and synced, so a run's folder is either
complete or absent: a process killed while writing leaves only a ``.tmp-*`` folder, which the
next write of the same folder (and the API's start-up sweep) removes. An existing folder is
replaced safely: it is renamed away, the new one renamed in, and the old one removed.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from pathlib import Path

#: Prefix of temporary files and folders; anything named so is debris of an interrupted write.
TEMP_PREFIX = ".tmp-"

#: ``errno`` values with which a file system says it cannot sync a folder (not a failure).
_NO_DIR_SYNC = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EBADF})


def fsync_file(path: Path) -> None:
    """Flush a file's data to disk (raises :class:`OSError` if the disk refuses)."""
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries to disk, so that a rename inside it survives a crash.

    Raises
    ------
    OSError
        If the disk refuses the sync; file systems that cannot sync folders at all are
        tolerated.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _NO_DIR_SYNC:
            raise
    finally:
        os.close(fd)


def temp_dir_for(final_dir: Path) -> Path:
    """Create and return a temporary sibling folder in which to build ``final_dir``."""
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    path = final_dir.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}-{final_dir.name}")
    path.mkdir()
    return path


def sweep_stale(final_dir: Path) -> list[Path]:
    """Remove temporary siblings left for ``final_dir`` by an interrupted write; return them."""
    parent = final_dir.parent
    if not parent.is_dir():
        return []
    removed = []
    for path in parent.glob(f"{TEMP_PREFIX}*-{final_dir.name}"):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def sync_tree(folder: Path) -> None:
    """Sync every file under ``folder`` to disk, then every folder, deepest first."""
    folders = [folder]
    for path in folder.rglob("*"):
        if path.is_symlink():
            continue
        if path.is_file():
            fsync_file(path)
        elif path.is_dir():
            folders.append(path)
    for path in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        fsync_dir(path)


def commit_dir(temp_dir: Path, final_dir: Path) -> Path:
    """Sync ``temp_dir`` and rename it to ``final_dir``, replacing an existing folder safely.

    Parameters
    ----------
    temp_dir
        The complete folder, a sibling of ``final_dir`` (same file system).
    final_dir
        Where it goes. An existing folder of that name is renamed away, the new one renamed
        in, then the old one removed; at no point is a half-written folder visible there.

    Returns
    -------
    pathlib.Path
        ``final_dir``.
    """
    sync_tree(temp_dir)
    if final_dir.exists():
        old = final_dir.with_name(f"{TEMP_PREFIX}old-{uuid.uuid4().hex}-{final_dir.name}")
        os.replace(final_dir, old)
        os.replace(temp_dir, final_dir)
        fsync_dir(final_dir.parent)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(temp_dir, final_dir)
        fsync_dir(final_dir.parent)
    return final_dir


def commit_files(temp_dir: Path, final_dir: Path, last: str) -> Path:
    """Move the files of ``temp_dir`` into a folder shared with other files, ``last`` last.

    Used when ``final_dir`` holds files that are not outputs (a user's working folder), so it
    cannot be replaced whole. An old ``last`` file is removed first and the new one moved in
    only after every other file, so a folder whose ``last`` file exists is complete.
    """
    sync_tree(temp_dir)
    final_dir.mkdir(parents=True, exist_ok=True)
    (final_dir / last).unlink(missing_ok=True)
    names = sorted(p.name for p in temp_dir.iterdir())
    for name in [n for n in names if n != last] + [n for n in names if n == last]:
        os.replace(temp_dir / name, final_dir / name)
    fsync_dir(final_dir)
    shutil.rmtree(temp_dir, ignore_errors=True)
    return final_dir
