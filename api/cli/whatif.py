"""``rahat whatif``: a scenario with a few overrides, compared with itself, writing nothing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rahat.api.cli._common import console, esc, print_json, print_warnings, user_errors
from rahat.api.cli.targeting import GAP_HELP
from rahat.engine.phases import peak_memory_mb, seconds_since_process_start

if TYPE_CHECKING:
    from rahat.engine.whatif import WhatIfResult

#: Totals of the ``stale_records`` option and of ``--gap``, shown when a side has them.
OPTION_TOTALS = (
    "stale_in_footprint",
    "stale_selected",
    "unregistered_b40_footprint_est",
    "reserved_for_unregistered",
)

#: ``rahat whatif``, added to the root application (no group of its own).
app = typer.Typer()


def whatif_payload(name: str, result: WhatIfResult, phases: dict[str, float]) -> dict[str, Any]:
    """Return the JSON object ``rahat whatif --json`` prints."""

    def totals(caseload: Any) -> dict[str, Any]:
        return {k: v for k, v in caseload.totals.items() if k != "cut"}

    return {
        "scenario": name,
        "overrides": result.overrides,
        "base": totals(result.base),
        "variant": totals(result.variant),
        "comparison": result.comparison.totals,
        "by_district": result.comparison.by_district.to_dict(orient="records"),
        "warnings": result.warnings,
        "phases": phases,
        "peak_rss_mb": peak_memory_mb(),
        **_reports(result),
    }


def _reports(result: WhatIfResult) -> dict[str, Any]:
    """The stale-record and gap blocks of both sides (``{}`` when neither has any)."""
    base, variant = result.base.report, result.variant.report
    return {"reports": {"base": base, "variant": variant}} if base or variant else {}


def print_whatif(name: str, result: WhatIfResult) -> None:
    """Print the base and variant totals side by side and the comparison line."""
    from rich.table import Table

    from rahat.api.cli._common import format_cell
    from rahat.engine.targeting.sweep import METRICS

    shown = ", ".join(f"{k}={v}" for k, v in result.overrides.items())
    table = Table(title=esc(f"{name}: base vs {shown}"))
    for column in ("figure", "base", "variant", "change"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    options = [k for k in OPTION_TOTALS if k in result.base.totals or k in result.variant.totals]
    for key in ("exposed", *METRICS, *options):  # the sweep's figures, the exposed, the options
        a, b = result.base.totals.get(key), result.variant.totals.get(key)
        change = b - a if isinstance(a, int | float) and isinstance(b, int | float) else None
        cells = [format_cell(v, key) for v in (a, b)]
        delta = "" if change is None else format_cell(change, key)
        if change is not None and change > 0:
            delta = "+" + delta
        table.add_row(esc(key), *(esc(c) for c in cells), esc(delta))
    console.print(table)
    t = result.comparison.totals
    console.print(
        f"added {t['added']:,}, dropped {t['dropped']:,}, kept {t['kept']:,}; "
        f"cost Rs {t['a_amount']:,} -> Rs {t['b_amount']:,} ({t['amount_change']:+,})",
        highlight=False,
    )
    print_warnings(result.warnings)


@app.command("whatif")
def whatif_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (YAML or JSON).")],
    registry: Annotated[Path, typer.Option("--registry", help="Registry snapshot folder or file.")],
    sets: Annotated[
        list[str],
        typer.Option(
            "--set",
            help="KEY=VALUE override (repeatable): pmt_cutoff=35, budget.total=2e9, ...",
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    gap: Annotated[Path | None, typer.Option("--gap", help=GAP_HELP)] = None,
) -> None:
    """Evaluate a scenario and its variant on one overlay; print totals; write nothing."""
    startup = seconds_since_process_start()  # interpreter and command line, up to this line
    started = time.perf_counter()
    from rahat.api.cli.targeting import load_cli_registry, read_gap_option
    from rahat.engine.pipeline import ExposureCache
    from rahat.engine.targeting import known_admin_units, load_scenario, validate_against
    from rahat.engine.whatif import parse_override, variant_of, whatif

    modules_s = time.perf_counter() - started
    with user_errors():
        started = time.perf_counter()
        overrides = dict(parse_override(item) for item in sets)
        base = load_scenario(scenario)
        units = known_admin_units()
        validate_against(base, units)
        variant = variant_of(base, overrides)[0]
        validate_against(variant, units)  # before reading anything
        gap_table = read_gap_option(gap, base, variant)
        scenario_s = time.perf_counter() - started
        started = time.perf_counter()
        loaded = load_cli_registry(registry, None)
        registry_s = time.perf_counter() - started
        result = whatif(base, overrides, loaded, ExposureCache(), gap=gap_table)
    phases = {
        "startup": round(startup, 3),
        "modules": round(modules_s, 3),
        "scenario": round(scenario_s, 3),
        "registry": round(registry_s, 3),
        **result.phases,
    }
    if as_json:
        print_json(whatif_payload(base.name, result, phases))
        return
    print_whatif(base.name, result)
