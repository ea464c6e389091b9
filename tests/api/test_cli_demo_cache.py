"""The demo's cached registry is built again, whole, when a file of a later version is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from rahat.api.cli.demo import demo_registry
from rahat.geo.registry.synth import SURVEY_FILE
from rahat.geo.registry.synth_identity import IDENTITY_FILE


@pytest.mark.parametrize("missing", [SURVEY_FILE, IDENTITY_FILE])
def test_a_cache_missing_a_later_file_is_rebuilt(
    missing: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAHAT_CACHE_DIR", str(tmp_path))
    registry = demo_registry(2000, 7)
    (registry.parent / missing).unlink()
    built = registry.stat().st_mtime_ns
    assert demo_registry(2000, 7) == registry
    assert (registry.parent / missing).exists()
    assert registry.stat().st_mtime_ns != built
    kept = registry.stat().st_mtime_ns
    demo_registry(2000, 7)  # whole: nothing rebuilt
    assert registry.stat().st_mtime_ns == kept
