"""Where Rahat's bundled reference data lives, and a clear error when it is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rahat.geo.paths import (
    REFERENCE_DATA_ENV,
    ReferenceDataError,
    reference_data_dir,
    reference_file,
    repo_root,
)

DISTRICTS = "admin/osm_2023_districts/geography.topojson.json"


def test_the_server_style_name_does_not_move_the_reference_data(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(REFERENCE_DATA_ENV, raising=False)
    monkeypatch.setenv("RAHAT_DATA_DIR", str(tmp_path))
    assert reference_data_dir() == repo_root() / "data"
    assert reference_file(DISTRICTS).is_file()


def test_missing_reference_data_is_a_clear_input_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(REFERENCE_DATA_ENV, str(tmp_path))
    assert reference_data_dir() == tmp_path
    with pytest.raises(ReferenceDataError) as info:
        reference_file(DISTRICTS)
    message = str(info.value)
    assert DISTRICTS in message and REFERENCE_DATA_ENV in message and "unset" in message


def test_synth_with_moved_reference_data_exits_2_without_traceback(tmp_path: Path) -> None:
    env = {**os.environ, REFERENCE_DATA_ENV: str(tmp_path / "nowhere"), "RAHAT_DATA_DIR": "x"}
    env["RAHAT_CACHE_DIR"] = str(tmp_path / "cache")
    code = "from rahat.api.cli import app; app()"
    result = subprocess.run(
        [sys.executable, "-c", code, "registry", "synth", "--households", "10", "--out", "o"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert REFERENCE_DATA_ENV in result.stderr and "missing" in result.stderr
