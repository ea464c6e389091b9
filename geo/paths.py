"""Where Rahat finds its bundled sample data and keeps its caches."""

from __future__ import annotations

import os
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Return the folder with the bundled real sample data (``data/`` in the repository).

    Override with the ``RAHAT_DATA_DIR`` environment variable.
    """
    return Path(os.environ.get("RAHAT_DATA_DIR", _REPO_ROOT / "data"))


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
