"""``rahat bench claims`` on a tiny stream: the JSON's keys, every reason found exactly, and the
injected same-household claims grouped."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from rahat.api.cli.main import app as cli
from rahat.engine.claims.decide import CODES


def test_bench_claims_json_has_every_reason_at_full_precision_and_recall() -> None:
    result = CliRunner().invoke(
        cli, ["bench", "claims", "--claims", "3000", "--households", "5000", "--json"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    for key in ("claims", "households", "seconds", "claims_per_s", "peak_rss_mb"):
        assert figures[key] > 0, key
    assert figures["households"] == 5000
    no_run = {"registered", "not_registered"}
    assert set(figures["reasons"]) == set(CODES) - no_run
    for code, found in figures["reasons"].items():
        assert found["support"] > 0, code
        assert (found["precision"], found["recall"]) == (1.0, 1.0), code
    groups = figures["duplicate_groups"]
    assert groups["support"] > 20 and groups["groups"] >= groups["support"]
    assert groups["precision"] >= 0.99 and groups["recall"] == 1.0
    assert figures["group_s"] > 0
