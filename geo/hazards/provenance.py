"""Where a hazard layer came from: file name, content hash, sender and time of receipt."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rahat.geo.files import sha256_file


@dataclass(frozen=True)
class Provenance:
    """Provenance of a hazard layer.

    Parameters
    ----------
    file_name
        Base name of the file as received.
    sha256
        Hex SHA-256 of the file's bytes.
    sender
        Who sent it (agency or person), if known.
    received_at
        When Rahat read it (UTC).
    """

    file_name: str
    sha256: str
    sender: str | None
    received_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable mapping."""
        return {
            "file_name": self.file_name,
            "sha256": self.sha256,
            "sender": self.sender,
            "received_at": self.received_at.isoformat(),
        }


def provenance_of(path: str | Path, sender: str | None = None) -> Provenance:
    """Return the :class:`Provenance` of a file received now."""
    path = Path(path)
    return Provenance(path.name, sha256_file(path), sender, datetime.now(UTC))
