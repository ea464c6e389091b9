"""What the ``rahat`` command line prints: help texts, tables in a pipe, numbers in units."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from rahat.api.cli import app
from rahat.api.cli._common import PIPE_WIDTH, format_cell

runner = CliRunner()


def _help_pages() -> list[list[str]]:
    """Every command and group of the ``rahat`` command line, as argument lists."""
    import typer.main

    pages: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        pages.append(path)
        if isinstance(getattr(command, "commands", None), dict):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return pages


HELP_PAGES = _help_pages()


@pytest.mark.parametrize("command", HELP_PAGES, ids=lambda c: " ".join(c) or "rahat")
def test_help_shows_flags_as_flags_and_no_markup(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = result.output
    assert "<bool>" not in text  # a flag takes no value: "--json", not "--json <bool>"
    assert "{" not in text.split("Usage:", 1)[1].splitlines()[0]  # "SCENARIO", not "{scenario}"
    assert "``" not in text  # no raw reStructuredText
    assert "closing notes" not in text


def test_json_flag_is_a_flag() -> None:
    result = runner.invoke(app, ["registry", "info", "--help"], env={"COLUMNS": "200"})
    line = next(x for x in result.output.splitlines() if "--json" in x)
    assert "<" not in line


def test_format_cell_units_and_missing_values() -> None:
    assert format_cell(float("nan"), "exposed_reached_share") == "-"
    assert format_cell(np.float64(math.nan), "amount") == "-"
    assert format_cell(None) == "-"
    assert format_cell(0.3, "depth") == "0.3"  # metres, not 30.0%
    assert format_cell(1.0, "depth") == "1"
    assert format_cell(0.396, "exposed_reached_share") == "39.6%"
    assert format_cell(0.5, "b_coverage") == "50.0%"
    assert format_cell(np.int64(611_050_000), "amount") == "611,050,000"
    assert format_cell(25_000.0, "benefit") == "25,000"


def _rahat(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``rahat`` as a user would, its output piped (not a terminal), without COLUMNS."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    code = "from rahat.api.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_piped_sweep_table_is_whole_in_metres_without_nan(
    tmp_path: Path, registry_file: Path
) -> None:
    scenario = Path(__file__).resolve().parents[2] / "scenarios/flood_2022_footprint.yaml"
    result = _rahat(
        "sweep",
        str(scenario),
        "--registry",
        str(registry_file),
        "--vary",
        "pmt_cutoff=30:40:10",
        "--vary",
        "depth=0.1:0.5:0.2",
        "--out",
        str(tmp_path / "sweep"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "…" not in out  # nothing cut to 80 columns
    assert "exposed_bottom40_reached_share" in out
    assert not re.search(r"\bnan\b", out, re.IGNORECASE)
    rows = [line for line in out.splitlines() if line.startswith("│")]
    depths = {line.split("│")[2].strip() for line in rows}
    assert depths == {"0.1", "0.3", "0.5"}, depths  # metres, never "10.0%"
    assert max(len(line) for line in out.splitlines()) <= PIPE_WIDTH
