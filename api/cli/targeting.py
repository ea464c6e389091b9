"""``rahat run``, ``rahat compare`` and ``rahat sweep``: targeting scenarios from the shell."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rahat.api.cli._common import console, print_json, progress_bar, user_errors

if TYPE_CHECKING:
    import pandas as pd

    from rahat.engine.pipeline import RunResult
    from rahat.engine.targeting import Scenario

_SCENARIO_SUFFIXES = {".yaml", ".yml", ".json"}


def _load(path: Path) -> Scenario:
    from rahat.engine.targeting import known_admin_units, load_scenario, validate_against

    scenario = load_scenario(path)
    validate_against(scenario, known_admin_units())
    return scenario


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1%}" if 0 <= value <= 1 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(title: str, frame: pd.DataFrame, limit: int = 40) -> None:
    from rich.table import Table

    table = Table(title=title)
    for col in frame.columns:
        table.add_column(str(col), justify="right" if frame[col].dtype.kind in "iuf" else "left")
    for row in frame.head(limit).itertuples(index=False):
        table.add_row(*(_fmt(v.item() if hasattr(v, "item") else v) for v in row))
    console.print(table)
    if len(frame) > limit:
        console.print(f"... {len(frame) - limit} more rows")


def _caseload_frame(source: Path, registry: Path | None) -> pd.DataFrame:
    """Return a caseload frame from a run folder, a caseload Parquet, or a scenario to run."""
    import pandas as pd

    from rahat.geo.errors import InputError, UnreadableFileError

    if source.is_dir():
        source = source / "caseload.parquet"
    if source.suffix.lower() in _SCENARIO_SUFFIXES:
        if registry is None:
            raise InputError(f"{source}: comparing scenarios needs --registry PATH")
        from rahat.engine.pipeline import load_hazards, load_registry
        from rahat.engine.targeting import evaluate

        scenario = _load(source)
        reg, _ = load_registry(registry)
        hazards = load_hazards(scenario, registry_extent=reg.bounds())
        from rahat.engine.pipeline import ExposureCache

        return evaluate(scenario, ExposureCache().exposure(reg, hazards)).frame
    try:
        return pd.read_parquet(source)
    except (OSError, ValueError) as exc:
        raise UnreadableFileError(
            f"not a caseload (a run folder, caseload.parquet or a scenario file): {exc}",
            source=source,
        ) from None


def run_payload(name: str, result: RunResult) -> dict[str, Any]:
    """Return the JSON object ``rahat run --json`` prints for a finished run."""
    caseload = result.caseload
    return {
        "scenario": name,
        "totals": {k: v for k, v in caseload.totals.items() if k != "cut"},
        "cut": caseload.totals["cut"],
        "explanations": caseload.explain(),
        "outputs": {k: str(v) for k, v in result.outputs.items()},
    }


def print_run(
    name: str, result: RunResult, out: Path, levels: tuple[str, ...] = ("province", "district")
) -> None:
    """Print a finished run for people: caseload by admin unit, notes, and where the files are."""
    caseload = result.caseload
    summary = caseload.summary(levels=levels).copy()
    summary.loc[summary["level"] == "total", levels[0]] = "all"
    cols = [
        *(["level"] if len(levels) > 1 else []),
        *levels,
        "eligible",
        "households",
        "people",
        "amount",
        "exposed_reached_share",
        "exposed_bottom40_reached_share",
    ]
    _table(f"{name}: caseload by {levels[-1]}", summary[cols])
    totals = caseload.totals
    console.print(
        f"[bold]{name}[/]: {totals['selected']:,} households selected of {totals['eligible']:,} "
        f"eligible ({totals['exposed']:,} exposed), {totals['people']:,} people, "
        f"Rs {totals['amount']:,}",
        highlight=False,
    )
    for message in caseload.explain():
        console.print(f"[yellow]note:[/] {message}", highlight=False)
    console.print(f"outputs in {out}: " + ", ".join(p.name for p in result.outputs.values()))


def register(app: typer.Typer) -> None:
    """Add ``run``, ``compare`` and ``sweep`` to the root rahat application."""

    @app.command("run")
    def run(
        scenario: Annotated[Path, typer.Argument(help="Scenario file (YAML or JSON).")],
        registry: Annotated[Path, typer.Option("--registry", help="Registry file.")],
        out: Annotated[Path, typer.Option("--out", help="Output folder.")],
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    ) -> None:
        """Evaluate a scenario on a registry and write caseload, summary, map and manifest."""
        from rahat.engine.pipeline import run_scenario

        with user_errors():
            loaded = _load(scenario)
            with progress_bar(not as_json) as progress:
                result = run_scenario(
                    loaded, registry_path=registry, out_dir=out, progress=progress
                )
        if as_json:
            print_json(run_payload(loaded.name, result))
            return
        print_run(loaded.name, result, out)

    @app.command("compare")
    def compare(
        a: Annotated[
            Path, typer.Argument(help="Baseline: run folder, caseload.parquet or scenario.")
        ],
        b: Annotated[
            Path, typer.Argument(help="Alternative: run folder, caseload.parquet or scenario.")
        ],
        registry: Annotated[
            Path | None, typer.Option("--registry", help="Registry (when A or B is a scenario).")
        ] = None,
        out: Annotated[
            Path | None, typer.Option("--out", help="Write comparison.csv and households.csv here.")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    ) -> None:
        """Compare two caseloads: households added, dropped and kept, cost, district coverage."""
        from rahat.engine.targeting import compare_caseloads
        from rahat.geo.files import atomic_write

        with user_errors():
            result = compare_caseloads(_caseload_frame(a, registry), _caseload_frame(b, registry))
        written: dict[str, str] = {}
        if out is not None:
            by_district, households = result.by_district, result.households
            written["comparison"] = str(
                atomic_write(out / "comparison.csv", lambda t: by_district.to_csv(t, index=False))
            )
            written["households"] = str(
                atomic_write(out / "households.csv", lambda t: households.to_csv(t, index=False))
            )
        if as_json:
            print_json({"totals": result.totals, "outputs": written})
            return
        _table("caseload B vs A by district", result.by_district)
        t = result.totals
        console.print(
            f"added {t['added']:,}, dropped {t['dropped']:,}, kept {t['kept']:,}; "
            f"cost Rs {t['a_amount']:,} -> Rs {t['b_amount']:,} ({t['amount_change']:+,})"
        )

    @app.command("sweep")
    def sweep_command(
        scenario: Annotated[Path, typer.Argument(help="Scenario file.")],
        registry: Annotated[Path, typer.Option("--registry", help="Registry file.")],
        vary: Annotated[
            list[str],
            typer.Option("--vary", help="NAME=start:stop:step or NAME=a,b,c (repeatable, max 2)."),
        ],
        out: Annotated[Path, typer.Option("--out", help="Folder for sweep.csv and sweep.png.")],
        metric: Annotated[str, typer.Option("--metric", help="Heatmap metric.")] = "selected",
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    ) -> None:
        """Evaluate a scenario over a parameter grid on one overlay; write a table and heatmap."""
        from rahat.engine.pipeline import ExposureCache, load_hazards, load_registry
        from rahat.engine.targeting import sweep
        from rahat.engine.targeting.maps import sweep_heatmap
        from rahat.engine.targeting.sweep import METRICS, parse_range
        from rahat.geo.errors import InputError
        from rahat.geo.files import atomic_write

        with user_errors():
            if not vary or len(vary) > 2:
                raise InputError("give one or two --vary NAME=start:stop:step options")
            if metric not in METRICS:
                raise InputError(f"unknown --metric '{metric}'; use one of {', '.join(METRICS)}")
            grid: dict[str, list[float]] = {}
            for item in vary:
                name, sep, values = item.partition("=")
                if not sep:
                    raise InputError(f"--vary '{item}': use NAME=start:stop:step")
                grid[name.strip()] = parse_range(values.strip())
            loaded = _load(scenario)
            reg, _ = load_registry(registry)
            hazards = load_hazards(loaded, registry_extent=reg.bounds())
            exposure = ExposureCache().exposure(reg, hazards)
            result = sweep(loaded, exposure, grid)
        table = result.table
        csv_path = atomic_write(out / "sweep.csv", lambda t: table.to_csv(t, index=False))
        png_path = atomic_write(out / "sweep.png", lambda t: sweep_heatmap(result, t, metric))
        if as_json:
            print_json(
                {
                    "rows": table.to_dict(orient="records"),
                    "outputs": {"table": str(csv_path), "heatmap": str(png_path)},
                }
            )
            return
        _table(f"{loaded.name}: sweep", table, limit=60)
        console.print(f"wrote {csv_path} and {png_path}")
