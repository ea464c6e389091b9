"""Check output paths before any work: a refused ``--out`` costs seconds, not a whole run.

Every command that writes files checks each output path first, so that a path that is a file
where a folder is needed, lies under a file, or is in a folder Rahat may not write into is an
:class:`~rahat.geo.errors.InputError` (exit code 2) named after its option, before a registry
is read or a hazard overlaid. Nothing is created by the check.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from rahat.geo.errors import InputError


def _nearest_existing(path: Path) -> Path:
    """Return ``path`` or its closest ancestor that exists (or is a link, even a broken one)."""
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path(path.anchor or ".")


def _can_write_into(folder: Path) -> str | None:
    """Return why no file can be created in ``folder``, or ``None`` when one can.

    Creates and removes a hidden empty file: unlike :func:`os.access`, this also catches a
    read-only file system, a full quota on inodes and the super-user's ``/proc``.
    """
    try:
        fd, name = tempfile.mkstemp(prefix=".rahat-write-check-", dir=folder)
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(fd)
    os.unlink(name)
    return None


def check_output_folder(path: Path, option: str = "--out") -> Path:
    """Check that ``path`` is, or can become, a folder Rahat may write files into.

    Parameters
    ----------
    path
        The output folder (created later, by the command, when missing).
    option
        The command-line option that named it, for the message.

    Returns
    -------
    pathlib.Path
        ``path``, unchanged.

    Raises
    ------
    InputError
        If ``path`` is a file, lies under a file, or its folder cannot be written.
    """
    full = path.absolute()
    existing = _nearest_existing(full)
    if not existing.is_dir():
        if existing == full:
            raise InputError(
                f"{option}: this is a file, not a folder; give a folder (it is created if missing)",
                source=path,
            )
        raise InputError(
            f"{option}: {existing} is a file, so no folder can be made under it; give another "
            "folder",
            source=path,
        )
    _require_writable(existing, option, path, "a folder")
    return path


def check_output_file(path: Path, option: str) -> Path:
    """Check that the file ``path`` can be written (an existing file is replaced).

    Parameters
    ----------
    path
        The output file; its folder is created later when missing.
    option
        The command-line option that named it (or the one that changes a default path).

    Returns
    -------
    pathlib.Path
        ``path``, unchanged.

    Raises
    ------
    InputError
        If ``path`` is a folder, lies under a file, or its folder cannot be written.
    """
    full = path.absolute()
    if full.is_dir():
        raise InputError(f"{option}: this is a folder; give a file name", source=path)
    existing = _nearest_existing(full.parent)
    if not existing.is_dir():
        raise InputError(
            f"{option}: {existing} is a file, not a folder, so nothing can be written under it",
            source=path,
        )
    _require_writable(existing, option, path, "a path")
    return path


def _require_writable(folder: Path, option: str, path: Path, what: str) -> None:
    """Raise :class:`InputError` naming ``option`` when nothing can be written into ``folder``."""
    reason = _can_write_into(folder)
    if reason is not None:
        raise InputError(
            f"{option}: cannot write into {folder} ({reason}); give {what} you can write to",
            source=path,
        )
