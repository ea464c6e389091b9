"""Where Rahat finds its bundled reference data and keeps its caches."""

from __future__ import annotations

import os
from pathlib import Path

from rahat.geo.errors import InputError

_REPO_ROOT = Path(__file__).resolve().parent.parent

#: Environment variable that moves Rahat's bundled reference data (boundaries, census figures,
#: gazetteers, sample hazards: the repository's ``data/`` folder). Only for a relocated copy of
#: that folder; it has nothing to do with the server's own files (``RAHAT_STATE_DIR``). The old
#: name ``RAHAT_DATA_DIR`` is no longer read: it looked like the server's data folder.
REFERENCE_DATA_ENV = "RAHAT_REFERENCE_DATA_DIR"


class ReferenceDataError(InputError):
    """Rahat's bundled reference data is missing (a moved or incomplete ``data/`` folder)."""

    code = "reference-data"


def reference_data_dir() -> Path:
    """Return the folder with Rahat's bundled real reference data (``data/`` in the repository).

    Override with the :data:`REFERENCE_DATA_ENV` (``RAHAT_REFERENCE_DATA_DIR``) environment
    variable, only to point at a copy of that folder.
    """
    value = os.environ.get(REFERENCE_DATA_ENV, "").strip()
    return Path(value) if value else _REPO_ROOT / "data"


#: Former name of :func:`reference_data_dir`, kept for callers.
data_dir = reference_data_dir


def reference_file(relative: str) -> Path:
    """Return the path of a bundled reference file, or raise a clear error if it is missing.

    Raises
    ------
    ReferenceDataError
        If the file does not exist (an :class:`~rahat.geo.errors.InputError`: the command line
        prints it and exits with code 2, without a traceback).
    """
    folder = reference_data_dir()
    path = folder / relative
    if path.is_file():
        return path
    if os.environ.get(REFERENCE_DATA_ENV, "").strip():
        where = (
            f"{REFERENCE_DATA_ENV} points at {folder}, which lacks it; unset "
            f"{REFERENCE_DATA_ENV} to use the data shipped with Rahat, or point it at a "
            "complete copy of the repository's data/ folder"
        )
    else:
        where = (
            f"the data shipped with Rahat ({folder}) lacks it; reinstall Rahat from a complete "
            f"checkout, or set {REFERENCE_DATA_ENV} to a copy of the repository's data/ folder"
        )
    raise ReferenceDataError(f"Rahat's bundled reference file {relative} is missing: {where}")


def cache_dir() -> Path:
    """Return the folder for generated, re-creatable files (demo registry, benchmark inputs).

    Override with ``RAHAT_CACHE_DIR``; defaults to ``~/.cache/rahat``. Never committed.
    """
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rahat"
    path = Path(os.environ.get("RAHAT_CACHE_DIR", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def repo_root() -> Path:
    """Return the repository root (where ``scenarios/`` and ``data/`` live)."""
    return _REPO_ROOT


def scenarios_dir() -> Path:
    """Return the folder of the shipped scenario files (``scenarios/``).

    Override with ``RAHAT_SCENARIOS_DIR``.
    """
    return Path(os.environ.get("RAHAT_SCENARIOS_DIR", _REPO_ROOT / "scenarios"))
