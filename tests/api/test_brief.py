"""The printable brief: ``rahat report RUN_DIR`` and ``GET /runs/{run_id}/brief.html``."""

from __future__ import annotations

import base64
import csv
import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import Service
from typer.testing import CliRunner

from rahat.api.cli import app
from rahat.api.service.brief_text import group_digits

runner = CliRunner()

#: A scenario name a hostile user could type: it must be shown, never run.
HOSTILE_NAME = "<script>alert('x')</script> & flood"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run of a small demo registry whose budget binds (some eligible are cut)."""
    from rahat.geo.registry.synth import write_demo

    root = tmp_path_factory.mktemp("brief")
    write_demo(3000, 2022, root / "registry")
    scenario = root / "scenario.json"
    scenario.write_text(
        json.dumps(
            {
                "name": HOSTILE_NAME,
                "seed": 7,
                "hazards": [
                    {"name": "depth", "path": "demo:flood_depth_sindh_2022", "kind": "flood_depth"}
                ],
                "eligibility": {
                    "pmt_cutoff": 32,
                    "hazard": [{"layer": "depth", "min_intensity": 0.3}],
                },
                "priority": {"weights": {"severity": 0.5, "poverty": 0.5}},
                "benefit": {"kind": "fixed", "amount": 25000},
                "budget": {"total": 2_512_500},
            }
        )
    )
    out = root / "run"
    result = runner.invoke(
        app,
        [
            *("run", str(scenario), "--registry", str(root / "registry" / "registry.parquet")),
            *("--out", str(out), "--outputs", "parquet,summary,map"),
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def _report(run_dir: Path, out: Path, *args: str) -> str:
    scenario = run_dir.parent / "scenario.json"
    result = runner.invoke(
        app, ["report", str(run_dir), "--out", str(out), "--scenario", str(scenario), *args]
    )
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def _total_row(run_dir: Path) -> dict[str, str]:
    with (run_dir / "summary.csv").open() as f:
        return next(row for row in csv.DictReader(f) if row["level"] == "total")


def test_brief_has_the_runs_totals_hashes_and_nothing_external(run_dir, tmp_path) -> None:
    html = _report(run_dir, tmp_path / "brief.html")
    total = _total_row(run_dir)
    cells = re.findall(r"<td class=n>([^<]*)</td>", html)
    assert f"{int(total['households']):,}" in cells  # households selected
    assert f"{int(total['people']):,}" in cells
    assert f"Rs {int(total['amount']):,}" in cells
    assert f"{int(total['exposed']):,}" in cells
    assert f"{float(total['exposed_bottom40_reached_share']):.1%}" in cells
    # self-contained: no address anywhere, the map inline
    assert "http://" not in html and "https://" not in html
    assert re.search(r'<img [^>]*src="data:image/png;base64,', html)
    # every hash of the manifest, and not one household id
    manifest = json.loads((run_dir / "manifest.json").read_text())
    hashes = re.findall(r"[0-9a-f]{64}", json.dumps(manifest))
    assert hashes and all(h in html for h in hashes)
    ids = pq.read_table(run_dir / "caseload.parquet", columns=["household_id"])
    assert not [i for i in ids.column(0).to_pylist() if str(i) in html]
    # the budget binds: the cut line counts the eligible left out
    cut = re.search(r"<li>([\d,]+) eligible households were left out by the budget", html)
    assert cut and int(cut.group(1).replace(",", "")) > 0
    assert "The last household selected is number" in html


def test_brief_escapes_the_scenario_name(run_dir, tmp_path) -> None:
    html = _report(run_dir, tmp_path / "brief.html")
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; flood" in html
    assert "PMT poverty score is at most 32" in html  # the scenario in words, from its fields


def test_brief_withholds_small_cells_and_full_shows_the_runs_map(run_dir, tmp_path) -> None:
    total = _total_row(run_dir)
    selected = f"{int(total['households']):,}"
    k = int(total["households"]) + 1  # every unit, and the totals, are under k
    html = _report(run_dir, tmp_path / "k.html", "--k", str(k))
    assert f"withheld (&lt; {k})" in html
    assert selected not in re.findall(r"<td class=n>([^<]*)</td>", html)
    full = _report(run_dir, tmp_path / "full.html", "--full")
    assert "withheld" not in full
    assert base64.b64encode((run_dir / "map.png").read_bytes()).decode() in full
    assert base64.b64encode((run_dir / "map.png").read_bytes()).decode() not in html


def test_brief_tehsil_level_and_pakistani_grouping(run_dir, tmp_path) -> None:
    html = _report(run_dir, tmp_path / "pk.html", "--level", "tehsil", "--grouping", "pk")
    assert "By tehsil" in html
    amount = int(_total_row(run_dir)["amount"])
    assert f"Rs {group_digits(amount, 'pk')}" in html


@pytest.mark.parametrize(
    ("value", "intl", "pk"),
    [
        (1234567, "1,234,567", "12,34,567"),
        (-1234.5, "-1,235", "-1,235"),
        (0, "0", "0"),
        (-0.4, "0", "0"),
        (999, "999", "999"),
        (100000, "100,000", "1,00,000"),
        (123456789.49, "123,456,789", "12,34,56,789"),
        (-9876543, "-9,876,543", "-98,76,543"),
    ],
)
def test_group_digits(value: float, intl: str, pk: str) -> None:
    assert group_digits(value, "intl") == intl
    assert group_digits(value, "pk") == pk


def test_report_refuses_bad_input_in_one_line(run_dir, tmp_path) -> None:
    not_a_run = tmp_path / "empty"
    not_a_run.mkdir()
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "caseload.parquet").write_bytes((run_dir / "caseload.parquet").read_bytes())
    (corrupt / "manifest.json").write_text("{not json")
    for args in (
        [str(tmp_path / "missing")],
        [str(not_a_run)],
        [str(corrupt)],
        [str(run_dir), "--k", "0"],
        [str(run_dir), "--grouping", "uk"],
    ):
        result = runner.invoke(app, ["report", *args, "--out", str(tmp_path / "x.html")])
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
        assert result.output.strip().startswith("error:"), result.output
    assert not (tmp_path / "x.html").exists()


def test_brief_endpoint_for_readers_only(service: Service) -> None:
    url = f"/runs/{service.planner_run_id}/brief.html"
    r = service.get("planner", url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "Relief targeting brief" in r.text and "withheld" in r.text
    assert "http://" not in r.text and "https://" not in r.text
    ids = service.table.column("household_id").to_pylist()
    assert not [i for i in ids if str(i) in r.text]
    assert service.get("ngo", f"/runs/{service.run_id}/brief.html").status_code == 403
    assert service.get(None, url).status_code == 401
