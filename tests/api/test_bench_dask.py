"""``rahat bench dask``: its JSON keys, and the identity check that can fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rahat.api.cli.main import app as cli
from rahat.benchmarks.cluster import COMPARED, identical_outputs

pytest.importorskip("distributed")


@pytest.mark.slow
def test_bench_dask_json_has_the_issue_keys(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["bench", "dask", "--households", "2000", "--workers", "1", "--json"],
        env={"RAHAT_CACHE_DIR": str(tmp_path)},
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["households"] == 2000 and figures["single_s"] > 0
    assert set(figures["dask_s"]) == {"1"} and figures["identical"] is True
    assert figures["dask_warm_s"]["1"] > 0 and figures["overhead_warm"]["1"] > 0
    assert figures["peak_worker_rss_mb"]["1"] > 0
    cluster = figures["phases"]["1"]["cluster"]  # the ranking too ran on the workers
    assert set(cluster) == {"scatter", "overlay", "rank", "merge"}, cluster
    moved = figures["moved_mb"]["1"]
    assert set(moved) == {"layers_out", "rows_out", "overlay_back", "rank_out", "rank_back"}


def test_identity_is_byte_for_byte(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        folder.mkdir()
        for name in COMPARED:
            (folder / name).write_bytes(b"same")
    assert identical_outputs(a, b)
    (b / COMPARED[-1]).write_bytes(b"samE")
    assert not identical_outputs(a, b)


def test_bad_worker_counts_exit_2() -> None:
    for bad in ("0", "x", ""):
        result = CliRunner().invoke(cli, ["bench", "dask", "--workers", bad])
        assert result.exit_code == 2, result.output
