"""Which household registry the service serves, told without disclosing server paths.

``rahat serve`` runs scenarios on ``RAHAT_REGISTRY_PATH`` (default: the registry ``rahat demo``
builds in the cache). :func:`registry_status` describes it cheaply (file name, whether it
exists, households from the Parquet footer, no scan); :func:`require_registry` refuses a run
with a 503 problem when there is none, instead of queueing a job that is bound to fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rahat.geo.errors import UnavailableError

#: What to do when the service has no registry (shown in problems, ``/healthz`` and logs).
NO_REGISTRY_HINT = (
    "no registry: run `rahat demo` to build the demo registry, or set RAHAT_REGISTRY_PATH "
    "to a registry file (for example one written by `rahat registry synth`), then restart "
    "`rahat serve`"
)


@dataclass(frozen=True)
class RegistryStatus:
    """The served registry: its file name (never the full path), presence and households."""

    name: str
    exists: bool
    households: int | None

    def describe(self) -> str:
        """One line for the start-up log (file name only)."""
        if not self.exists:
            return f"registry {self.name}: missing; {NO_REGISTRY_HINT}"
        count = "unknown number of" if self.households is None else f"{self.households:,}"
        return f"registry {self.name}: {count} households"


def registry_status(path: Path) -> RegistryStatus:
    """Describe the registry at ``path`` without reading its rows.

    The household count comes from the Parquet footer or a snapshot's ``snapshot.json``;
    other formats (CSV, Feather) report ``None`` rather than being read.
    """
    from rahat.geo.registry.snapshot import is_snapshot

    exists = path.is_file() or is_snapshot(path)
    households: int | None = None
    if exists and is_snapshot(path):
        from rahat.geo.errors import SnapshotError
        from rahat.geo.registry.snapshot import read_info

        try:
            households = read_info(path).households
        except SnapshotError:
            households = None
    elif exists and path.suffix.lower() in (".parquet", ".geoparquet"):
        import pyarrow.parquet as pq

        try:
            households = int(pq.ParquetFile(path).metadata.num_rows)
        except (OSError, ValueError):
            households = None
    return RegistryStatus(name=path.name, exists=exists, households=households)


def require_registry(path: Path) -> None:
    """Refuse (503) when the service's registry at ``path`` (a file or snapshot) is missing.

    Raises
    ------
    rahat.geo.errors.UnavailableError
        With what to do (:data:`NO_REGISTRY_HINT`).
    """
    from rahat.geo.registry.snapshot import is_snapshot

    if not (path.is_file() or is_snapshot(path)):
        raise UnavailableError(NO_REGISTRY_HINT)
