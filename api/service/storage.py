"""Atomic artifact store: files appear under their final name only once whole and synced."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

from rahat.geo.errors import TooLargeError

#: Prefix of temporary files and folders; anything named so is debris of an interrupted write.
TEMP_PREFIX = ".tmp-"

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


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries to disk, so that a rename inside it survives a crash."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


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
        """Rename the finished file to its final name and sync the folder."""
        self.finish()
        os.replace(self.temp_path, self.final_path)
        if self._private is not None:
            shutil.rmtree(self._private, ignore_errors=True)
        fsync_dir(self.final_path.parent)
        return self.final_path

    def abort(self) -> None:
        """Discard the temporary file."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self.temp_path.unlink(missing_ok=True)
        if self._private is not None:
            shutil.rmtree(self._private, ignore_errors=True)


def temp_dir_for(final_dir: Path) -> Path:
    """Create and return a temporary sibling folder in which to build ``final_dir``."""
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    path = final_dir.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}-{final_dir.name}")
    path.mkdir()
    return path


def publish_dir(temp_dir: Path, final_dir: Path) -> Path:
    """Sync every file of ``temp_dir`` and rename it to ``final_dir`` (replacing an old one)."""
    for path in temp_dir.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    fsync_dir(temp_dir)
    if final_dir.exists():
        old = final_dir.with_name(f"{TEMP_PREFIX}old-{uuid.uuid4().hex}-{final_dir.name}")
        os.replace(final_dir, old)
        os.replace(temp_dir, final_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(temp_dir, final_dir)
    fsync_dir(final_dir.parent)
    return final_dir


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
