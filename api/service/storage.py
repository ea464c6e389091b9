"""Atomic artifact store: files appear under their final name only once whole and synced."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

from rahat.engine.targeting.folders import TEMP_PREFIX, commit_dir, fsync_dir, temp_dir_for
from rahat.geo.errors import StorageFullError, TooLargeError

__all__ = [
    "FULL_ERRNOS",
    "TEMP_PREFIX",
    "AtomicUpload",
    "atomic_write_bytes",
    "fsync_dir",
    "is_storage_full",
    "publish_dir",
    "require_free_space",
    "safe_filename",
    "sweep_temporaries",
    "temp_dir_for",
]

#: ``errno`` values meaning the disk or the quota is full.
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
#: SQLite's result code of a full disk (``SQLITE_FULL``).
_SQLITE_FULL = 13
#: PostgreSQL's SQLSTATE of a full disk (``disk_full``).
_PG_DISK_FULL = "53100"


#: Free bytes below which new work (a run, a re-run) is refused with 507 instead of queued.
MIN_FREE_BYTES = 1 << 20


def require_free_space(folder: Path, min_bytes: int = MIN_FREE_BYTES) -> None:
    """Raise :class:`StorageFullError` if the disk of ``folder`` has less than ``min_bytes`` free.

    Work that must write (a run's outputs) is refused up front, rather than accepted and then
    failed, when the disk is (nearly) full.
    """
    try:
        free = shutil.disk_usage(folder).free
    except OSError:  # the folder is checked again when written
        return
    if free < min_bytes:
        raise StorageFullError(
            f"The server's storage is full ({free:,} bytes free), so no run was started. Retry "
            "once the operators have freed space."
        )


def is_storage_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or an exception it was raised from) says the disk or quota is full.

    Recognises :class:`OSError` with ``ENOSPC``/``EDQUOT``, SQLite's "database or disk is
    full", PostgreSQL's ``disk_full`` and :class:`~rahat.geo.errors.StorageFullError`.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, StorageFullError):
            return True
        if isinstance(exc, OSError) and exc.errno in FULL_ERRNOS:
            return True
        if getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL:
            return True
        if getattr(exc, "sqlstate", None) == _PG_DISK_FULL:
            return True
        if type(exc).__module__.startswith("sqlite3") and "disk is full" in str(exc):
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
    return False


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str | None, default: str = "upload.bin") -> str:
    """Reduce a client-supplied file name to a safe base name (no folders, no odd characters).

    Parameters
    ----------
    name
        The name sent by the client, possibly with folders or unusual characters.
    default
        Used when nothing usable is left.
    """
    base = re.split(r"[\\/]", name or "")[-1]
    base = _SAFE.sub("_", base).lstrip(".")[:200]
    return base or default


class AtomicUpload:
    """A file being received in chunks: written to a temporary name, then renamed.

    Parameters
    ----------
    final_path
        Where the file goes once :meth:`commit` is called. The temporary file lives in the same
        folder (same file system, so the rename is atomic) and keeps the final suffix, so that
        readers which dispatch on the suffix can validate it before it is committed.
    max_bytes
        Size cap: :meth:`write` raises :class:`~rahat.geo.errors.TooLargeError` beyond it and the
        temporary file is removed.
    private_dir
        Write the temporary file under its *final name* inside a private temporary folder
        (``<folder>/.tmp-<uuid>/<name>``) instead of under a temporary name, so that whatever
        reads it before the commit (a validator recording the file name) sees the real name.
    """

    def __init__(self, final_path: Path, max_bytes: int, *, private_dir: bool = False) -> None:
        self.final_path = final_path
        self.max_bytes = max_bytes
        final_path.parent.mkdir(parents=True, exist_ok=True)
        self._private: Path | None = None
        if private_dir:
            self._private = final_path.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}")
            self._private.mkdir(mode=0o700)
            self.temp_path = self._private / final_path.name
        else:
            self.temp_path = final_path.with_name(
                f"{TEMP_PREFIX}{uuid.uuid4().hex}-{final_path.name}"
            )
        self._file: BinaryIO | None = open(self.temp_path, "xb")  # noqa: SIM115
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; refuse (and clean up) once the size cap is passed."""
        assert self._file is not None, "upload already closed"
        self.size += len(chunk)
        if self.size > self.max_bytes:
            self.abort()
            raise TooLargeError(
                f"the upload is larger than the limit of {self.max_bytes:,} bytes; "
                "send a smaller file (clip or compress it) or ask the operators to raise "
                "RAHAT_MAX_UPLOAD_BYTES",
                source=self.final_path.name,
            )
        self._hash.update(chunk)
        self._file.write(chunk)

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of what was written so far."""
        return self._hash.hexdigest()

    def finish(self) -> Path:
        """Flush and fsync the temporary file and return its path (still not committed)."""
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
        return self.temp_path

    def commit(self) -> Path:
        """Rename the finished file to its final name and sync the folder.

        Raises
        ------
        OSError
            If a sync fails: the file is then not durable and must not be acknowledged.
        """
        self.finish()
        os.replace(self.temp_path, self.final_path)
        if self._private is not None:
            shutil.rmtree(self._private, ignore_errors=True)
        fsync_dir(self.final_path.parent)
        fsync_dir(self.final_path.parent.parent)  # the folder itself may be new
        return self.final_path

    def abort(self) -> None:
        """Discard the temporary file (also when the disk refuses the last buffered bytes)."""
        if self._file is not None:
            # a full disk fails the flush of the buffer; the file is removed anyway
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        self.temp_path.unlink(missing_ok=True)
        if self._private is not None:
            shutil.rmtree(self._private, ignore_errors=True)


def publish_dir(temp_dir: Path, final_dir: Path) -> Path:
    """Sync every file of ``temp_dir`` and rename it to ``final_dir`` (replacing an old one)."""
    return commit_dir(temp_dir, final_dir)


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a synced temporary file and a rename."""
    upload = AtomicUpload(path, max_bytes=max(len(data), 1))
    upload.write(data)
    return upload.commit()


def sweep_temporaries(root: Path) -> list[Path]:
    """Remove the debris of interrupted writes (anything named ``.tmp-*``) under ``root``."""
    removed: list[Path] = []
    if not root.exists():
        return removed
    for path in sorted(root.rglob(f"{TEMP_PREFIX}*"), key=lambda p: len(p.parts)):
        if not path.exists():
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed
