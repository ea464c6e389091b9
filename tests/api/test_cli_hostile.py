"""The ``rahat`` command line on hostile input: one line and a documented exit code, never a trace.

Covers the safety net (:mod:`rahat.api.cli._safety`), the early checks of output paths
(:mod:`rahat.api.cli._outputs`), registries with ids beyond 64 bits or no households, user
text that looks like rich markup or emoji codes, and hostile hazard files through the CLI.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from rahat.api.cli import app
from rahat.api.cli._common import (
    EXIT_INPUT_ERROR,
    EXIT_INTERNAL_ERROR,
    EXIT_INTERRUPTED,
    EXIT_NO_MEMORY,
    EXIT_OS_ERROR,
    EXIT_ROWS_REJECTED,
)
from rahat.geo.paths import reference_data_dir, scenarios_dir

runner = CliRunner()

SAMPLE = reference_data_dir() / "samples" / "registry_sample.csv"
SCENARIO = scenarios_dir() / "flood_2022_footprint.yaml"
#: A name that rich would print as "x💯" in bold if it were read as markup with emoji codes.
HOSTILE = "[bold]x:100:"


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Crash logs and caches of these tests go to a folder of their own."""
    monkeypatch.setenv("RAHAT_CACHE_DIR", str(tmp_path / "cache"))


def _invoke(args: list[str]) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def _sample() -> pd.DataFrame:
    return pd.read_csv(SAMPLE, dtype=str)


# -- the safety net -------------------------------------------------------------------------


def _fail_with(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise exc

    monkeypatch.setattr("rahat.geo.registry.validate.read_registry", fail)


@pytest.mark.parametrize(
    ("exc", "code", "line"),
    [
        (MemoryError(), EXIT_NO_MEMORY, "not enough memory to finish `rahat registry validate`"),
        (
            OSError(errno.ENOSPC, "No space left on device", "/data/out.csv"),
            EXIT_OS_ERROR,
            "disk full writing /data/out.csv",
        ),
        (
            PermissionError(errno.EACCES, "Permission denied", "/data/out.csv"),
            EXIT_OS_ERROR,
            "cannot write /data/out.csv: permission denied",
        ),
        (
            OSError(errno.EROFS, "Read-only file system", "/data/out.csv"),
            EXIT_OS_ERROR,
            "cannot write /data/out.csv: read-only file system",
        ),
        (OSError(errno.EIO, "Input/output error", "/dev/sdz"), EXIT_OS_ERROR, "Input/output error"),
        (KeyboardInterrupt(), EXIT_INTERRUPTED, "interrupted"),
    ],
)
def test_failures_are_one_line_and_a_documented_code(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, exc: BaseException, code: int, line: str
) -> None:
    _fail_with(monkeypatch, exc)
    exit_code, output = _invoke(["registry", "validate", SAMPLE, "--rejects", tmp_path / "r.csv"])
    assert exit_code == code, output
    assert line in output
    assert len(output.strip().splitlines()) == 1, output


def test_unexpected_exception_is_logged_with_exit_70(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fail_with(monkeypatch, RuntimeError("bug [bold]:100:"))
    exit_code, output = _invoke(["registry", "validate", SAMPLE, "--rejects", tmp_path / "r.csv"])
    assert exit_code == EXIT_INTERNAL_ERROR
    assert "internal error (RuntimeError) in `rahat registry validate`" in output
    (log,) = (tmp_path / "cache" / "logs").glob("rahat-error-*.log")
    assert str(log) in output
    text = log.read_text()
    assert "Traceback" in text and "RuntimeError: bug [bold]:100:" in text
    assert str(SAMPLE) not in text  # arguments are left out of the log
    if os.name == "posix":
        assert log.stat().st_mode & 0o077 == 0


def test_the_rahat_script_never_prints_a_traceback(tmp_path: Path) -> None:
    code = (
        "import rahat.geo.registry.validate as v\n"
        "def boom(*a, **k):\n"
        "    raise ZeroDivisionError('bug')\n"
        "v.read_registry = boom\n"
        "from rahat.api.cli import main\n"
        "main()\n"
    )
    env = {**os.environ, "RAHAT_CACHE_DIR": str(tmp_path / "cache")}
    args = ["registry", "validate", str(SAMPLE), "--rejects", str(tmp_path / "r.csv")]
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == EXIT_INTERNAL_ERROR, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "internal error (ZeroDivisionError)" in done.stderr
    (log,) = (tmp_path / "cache" / "logs").glob("rahat-error-*.log")
    assert "ZeroDivisionError: bug" in log.read_text()


# -- output paths, checked before any work -------------------------------------------------


def _commands(out: Path, registry: Path = SAMPLE) -> dict[str, list[object]]:
    missing = out.parent / "no-such-scenario.yaml"  # never read: the output is checked first
    return {
        "run": ["run", missing, "--registry", registry, "--out", out],
        "sweep": ["sweep", missing, "--registry", registry, "--vary", "x=1,2", "--out", out],
        "compare": ["compare", missing, missing, "--out", out],
        "synth": ["registry", "synth", "--households", "1000", "--out", out],
        "demo": ["demo", "--out", out],
    }


@pytest.mark.parametrize("command", ["run", "sweep", "compare", "synth", "demo"])
def test_out_folder_that_is_a_file(tmp_path: Path, command: str) -> None:
    existing = tmp_path / "taken"
    existing.write_text("keep me")
    exit_code, output = _invoke(_commands(existing)[command])
    assert exit_code == EXIT_INPUT_ERROR, output
    assert "--out: this is a file, not a folder" in output
    assert existing.read_text() == "keep me"


@pytest.mark.parametrize("command", ["run", "sweep", "compare", "synth"])
def test_out_folder_under_a_file(tmp_path: Path, command: str) -> None:
    (tmp_path / "taken").write_text("")
    exit_code, output = _invoke(_commands(tmp_path / "taken" / "out")[command])
    assert exit_code == EXIT_INPUT_ERROR, output
    assert "is a file, so no folder can be made under it" in output


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize("command", ["run", "sweep"])
def test_out_folder_that_cannot_be_written(command: str, tmp_path: Path) -> None:
    # /proc refuses new files even to the super-user (whom file modes do not stop)
    exit_code, output = _invoke(_commands(Path("/proc/rahat-out"))[command])
    assert exit_code == EXIT_INPUT_ERROR, output
    assert "--out: cannot write into /proc" in output


def test_validate_output_files_are_checked_first(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    for option, value, message in [
        ("--rejects", tmp_path / "taken" / "r.csv", "is a file, not a folder"),
        ("--out", tmp_path, "--out: this is a folder; give a file name"),
        ("--flags", tmp_path, "--flags: this is a folder; give a file name"),
    ]:
        exit_code, output = _invoke(["registry", "validate", SAMPLE, option, value])
        assert exit_code == EXIT_INPUT_ERROR, (option, output)
        assert message in output
    assert not list(tmp_path.glob("*.rejects.csv"))


def test_hazard_diff_and_audit_export_check_out(tmp_path: Path) -> None:
    sample = reference_data_dir() / "samples" / "flood_depth_sample.tif"
    exit_code, output = _invoke(
        ["hazard", "diff", sample, sample, "--registry", SAMPLE, "--out", tmp_path]
    )
    assert exit_code == EXIT_INPUT_ERROR and "this is a folder" in output
    exit_code, output = _invoke(["audit", "export", "--out", tmp_path])
    assert exit_code == EXIT_INPUT_ERROR and "this is a folder" in output


# -- registries: ids beyond 64 bits, no households -----------------------------------------


def test_household_id_2_to_the_64_is_a_rejected_row(tmp_path: Path) -> None:
    frame = _sample()
    frame.loc[0, "household_id"] = str(2**64)
    frame.to_csv(tmp_path / "big.csv", index=False)
    exit_code, output = _invoke(
        ["registry", "validate", tmp_path / "big.csv", "--rejects", tmp_path / "r.csv"]
    )
    assert exit_code == EXIT_ROWS_REJECTED, output
    rejects = pd.read_csv(tmp_path / "r.csv", dtype=str)
    assert rejects.loc[rejects["row"] == "0", "reason"].tolist() == [
        "household_id: too large (beyond the 64-bit integer range)"
    ]


def test_header_only_registry_fails_validation(tmp_path: Path) -> None:
    _sample().head(0).to_csv(tmp_path / "header.csv", index=False)
    exit_code, output = _invoke(["registry", "validate", tmp_path / "header.csv"])
    assert exit_code == EXIT_INPUT_ERROR, output
    assert "the registry holds no households" in output
    exit_code, output = _invoke(["registry", "info", tmp_path / "header.csv"])
    assert exit_code == EXIT_INPUT_ERROR and "holds no households" in output


def test_registry_with_every_row_rejected_fails_validation(tmp_path: Path) -> None:
    frame = _sample()
    frame["pmt_score"] = "250"
    frame.to_csv(tmp_path / "bad.csv", index=False)
    out = tmp_path / "clean.parquet"
    exit_code, output = _invoke(
        ["registry", "validate", tmp_path / "bad.csv", "--out", out, "--json"]
    )
    assert exit_code == EXIT_INPUT_ERROR, output
    assert "all 40 rows were rejected" in output
    assert not out.exists()


# -- user text printed literally (no markup, no emoji) --------------------------------------


def test_file_and_unit_names_print_literally(tmp_path: Path) -> None:
    frame = _sample()
    frame.loc[1, "district"] = f"Dadu{HOSTILE}"
    path = tmp_path / f"{HOSTILE}.csv"
    frame.to_csv(path, index=False)
    exit_code, output = _invoke(["registry", "validate", path, "--rejects", tmp_path / "r.csv"])
    assert exit_code == EXIT_ROWS_REJECTED, output
    flat = output.replace("\n", "")  # long temporary paths wrap on narrow terminals
    assert f"{HOSTILE}.csv: 40 rows" in flat
    assert f"unknown 'Dadu{HOSTILE}'" in flat
    assert "💯" not in output


def test_error_messages_print_literally(tmp_path: Path) -> None:
    vary = ["--vary", "pmt_cutoff=0:100:0.0001"]
    exit_code, output = _invoke(
        ["sweep", SCENARIO, "--registry", SAMPLE, *vary, "--out", tmp_path / "sweep"]
    )
    assert exit_code == EXIT_INPUT_ERROR, output
    assert "range '0:100:0.0001'" in output and "💯" not in output
    missing = tmp_path / f"{HOSTILE}.tif"
    exit_code, output = _invoke(["hazard", "validate", missing])
    assert exit_code == EXIT_INPUT_ERROR and str(missing) in output


# -- hostile hazard files, end to end -------------------------------------------------------


def _string_netcdf(path: Path) -> Path:
    import xarray as xr

    xr.Dataset(
        {"depth": (("lat", "lon"), np.array([["a", "b"], ["c", "d"]]))},
        coords={
            "lat": ("lat", [25.0, 25.1], {"standard_name": "latitude", "units": "degrees_north"}),
            "lon": ("lon", [67.0, 67.1], {"standard_name": "longitude", "units": "degrees_east"}),
        },
    ).to_netcdf(path)
    return path


def _huge_grid_csv(path: Path) -> Path:
    path.write_text(
        "lon,lat,value\n67.0,25.0,1\n67.0001,25.0001,2\n67.0002,25.0002,3\n74.0,32.0,4\n"
    )
    return path


def _scenario(path: Path, hazard: Path) -> Path:
    path.write_text(
        f"name: hostile\nhazards:\n  - {{name: depth, path: '{hazard}', kind: flood_depth}}\n"
        "eligibility:\n  pmt_cutoff: 32\n  hazard:\n    - {layer: depth, min_intensity: 0.3}\n"
        "benefit: {kind: fixed, amount: 25000}\nbudget: {total: 1000000}\n"
    )
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [(_string_netcdf, "holds strings, not numbers"), (_huge_grid_csv, "max_pixels")],
    ids=["netcdf-strings", "csv-huge-grid"],
)
def test_hostile_hazard_files_through_the_cli(tmp_path: Path, make: object, message: str) -> None:
    suffix = ".nc" if make is _string_netcdf else ".csv"
    hazard = make(tmp_path / f"{HOSTILE}{suffix}")  # type: ignore[operator]
    scenario = _scenario(tmp_path / "scenario.yaml", hazard)
    for args in (
        ["hazard", "inspect", hazard],
        ["hazard", "validate", hazard],
        ["run", scenario, "--registry", SAMPLE, "--out", tmp_path / "run"],
    ):
        exit_code, output = _invoke(args)
        assert exit_code == EXIT_INPUT_ERROR, (args, output)
        assert message in output and f"{HOSTILE}{suffix}" in output, output
        assert output.strip().splitlines()[-1].startswith("error:"), output
