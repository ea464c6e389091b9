"""Keep server paths out of what clients see (problem details, run errors)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from rahat.api.service.settings import Settings

#: What a server path is replaced with.
PLACEHOLDER = "<server>"

#: Temporary names of :mod:`rahat.api.service.storage` (``.tmp-<32 hex>-name``, ``.tmp-<hex>/``).
_TEMP_NAME = re.compile(r"\.tmp-(?:old-)?[0-9a-f]{32}(?:-|[\\/]|(?=\W|$))")


def _forms(path: Path | str) -> set[str]:
    """Spellings of ``path`` that may appear in a message: as given, absolute and resolved."""
    given = str(path)
    forms = {given}
    try:
        p = Path(path).expanduser()
        forms |= {str(p), str(p.absolute()), str(p.resolve())}
    except (OSError, RuntimeError, ValueError):  # pragma: no cover - odd paths
        pass
    # A bare relative name ("state") would match ordinary words; keep only real paths.
    return {
        f
        for f in forms
        if f and f not in (os.sep, "/", ".") and (os.sep in f or "/" in f) and len(f) > 2
    }


def server_paths(settings: Settings) -> list[str]:
    """Every spelling of the service's folders and files, longest first."""
    forms: set[str] = set()
    for path in (
        settings.hazards_dir,
        settings.runs_dir,
        settings.state_dir,
        settings.registry_path,
        settings.registry_path.parent,
        settings.scenarios_dir,
        settings.survey_file,
        settings.survey_file.parent,
    ):
        forms |= _forms(path)
    return sorted(forms, key=len, reverse=True)


def redact_paths(
    text: str,
    settings: Settings | None,
    extra: Mapping[str | Path, str] | Iterable[tuple[str | Path, str]] = (),
) -> str:
    """Replace server paths in ``text`` with :data:`PLACEHOLDER`.

    Parameters
    ----------
    text
        A message about to be shown to a client.
    settings
        The service settings: their state, hazards and runs folders, registry path and
        scenarios folder are replaced (as given, absolute and resolved). ``None`` replaces only
        ``extra`` and temporary names.
    extra
        Further ``(path, replacement)`` pairs, applied first (for example a temporary upload
        path and the file name the client sent).

    Returns
    -------
    str
        ``text`` without those paths and without the temporary names of the artifact store.
    """
    pairs = extra.items() if isinstance(extra, Mapping) else extra
    for path, replacement in pairs:
        for form in sorted(_forms(path), key=len, reverse=True):
            text = text.replace(form, replacement)
    if settings is not None:
        for form in server_paths(settings):
            text = text.replace(form, PLACEHOLDER)
    return _TEMP_NAME.sub("", text)
