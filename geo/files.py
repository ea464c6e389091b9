"""Files: written so that nothing half-written ever appears under a real name, and fingerprinted."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary path next to ``path``, then rename it to ``path``.

    The temporary file is in the same folder (so the rename is atomic) and keeps ``path``'s
    suffix (so writers that pick a format from it, such as GDAL, behave). It does not exist when
    ``write`` is called. If ``write`` fails, the temporary file is removed and ``path`` is left
    as it was.

    Parameters
    ----------
    path
        Final destination; its folder is created if missing.
    write
        Callable that writes the complete file at the path it is given.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.unlink()
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


#: Bytes read at a time when hashing a file.
_HASH_BLOCK = 1 << 22


def sha256_file(path: str | Path) -> str:
    """Return the hex SHA-256 of the file at ``path``, read in 4 MiB blocks.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as fh:
    ...     _ = fh.write(b"abc"); fh.flush()
    ...     sha256_file(fh.name)[:16]
    'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()
