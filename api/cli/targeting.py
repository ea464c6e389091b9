"""``rahat run``, ``rahat compare`` and ``rahat sweep``: targeting scenarios from the shell."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rahat.api.cli._common import (
    console,
    esc,
    format_cell,
    print_json,
    print_warnings,
    progress_bar,
    user_errors,
)
from rahat.api.cli._outputs import check_output_folder
from rahat.engine.phases import peak_memory_mb, seconds_since_process_start

if TYPE_CHECKING:
    import pandas as pd

    from rahat.engine.pipeline import RunResult
    from rahat.engine.targeting import Scenario

_SCENARIO_SUFFIXES = {".yaml", ".yml", ".json"}

#: Help of ``--gap`` (``run``, ``sweep``, ``whatif``).
GAP_HELP = (
    "Coverage-gap table (gap_by_unit.csv, or its folder, from `rahat gap estimate`): adds the "
    "estimated unregistered bottom-40% households per district to the summary; needed by "
    "budget.reserve_for_unregistered."
)
#: Summary columns ``rahat run`` prints when the run has them.
OPTION_COLUMNS = (
    "unregistered_b40_est",
    "unregistered_b40_lo90",
    "unregistered_b40_hi90",
    "stale_in_footprint",
    "stale_selected",
)


def read_gap_option(path: Path | None, *scenarios: Scenario) -> Any:
    """The ``--gap`` table (``None`` when not given), read before any registry.

    Raises
    ------
    rahat.geo.errors.ScenarioError
        When one of ``scenarios`` reserves budget for the unregistered and no table is given.
    """
    from rahat.engine.targeting.gap_join import read_gap, require_gap

    if path is None:
        for scenario in scenarios:
            if scenario.budget.reserve_share() > 0:
                require_gap(None)
        return None
    return read_gap(path)


def _load(path: Path) -> Scenario:
    from rahat.engine.targeting import known_admin_units, load_scenario, validate_against

    scenario = load_scenario(path)
    validate_against(scenario, known_admin_units())
    return scenario


def _fmt(value: Any, column: str = "") -> str:
    # Shares as percentages by column name only (a depth of 0.3 m stays 0.3); no "nan".
    return format_cell(value, column)


def _table(title: str, frame: pd.DataFrame, limit: int = 40) -> None:
    from rich.table import Table

    table = Table(title=esc(title))
    for col in frame.columns:
        table.add_column(esc(col), justify="right" if frame[col].dtype.kind in "iuf" else "left")
    for row in frame.head(limit).itertuples(index=False):
        table.add_row(*(esc(_fmt(v, str(c))) for v, c in zip(row, frame.columns, strict=True)))
    console.print(table)
    if len(frame) > limit:
        console.print(f"... {len(frame) - limit} more rows")


def print_registry_notes(rejected: int, rejects_file: Path | None, warnings: list[str]) -> None:
    """Print the rejected registry rows (count and where they are listed) and reader warnings."""
    if rejected:
        where = f"; every one is listed with its reasons in {rejects_file}" if rejects_file else ""
        console.print(
            f"[yellow]warning:[/] {rejected:,} registry row(s) failed validation and were left "
            f"out{esc(where)}",
            highlight=False,
        )
    print_warnings(warnings)


def load_cli_registry(path: Path, rejects_path: Path | None) -> Any:
    """Load ``--registry``: a snapshot as it is, a plain file through a cached snapshot.

    A plain file is imported into the cache once (one line on stderr says so) and memory-mapped
    from there on later runs (:func:`rahat.engine.pipeline.load_registry`).
    """
    from rahat.api.cli._common import err_console
    from rahat.engine.pipeline import load_registry

    def notify(message: str) -> None:
        err_console.print(esc(message), highlight=False, soft_wrap=True)

    return load_registry(path, rejects_path=rejects_path, snapshots=True, notify=notify)


class _RegistryForCompare:
    """The registry of ``rahat compare``, read once when a side is a scenario."""

    def __init__(self, path: Path | None, rejects_path: Path | None) -> None:
        self.path = path
        self.rejects_path = rejects_path
        self.loaded: Any = None
        self.cache: Any = None
        self.warnings: list[str] = []

    def get(self, source: Path) -> Any:
        from rahat.engine.pipeline import ExposureCache
        from rahat.geo.errors import InputError

        if self.path is None:
            raise InputError(f"{source}: comparing scenarios needs --registry PATH")
        if self.loaded is None:
            if self.rejects_path is None:  # as `rahat registry validate` does
                self.rejects_path = self.path.with_name(self.path.name + ".rejects.csv")
            self.loaded = load_cli_registry(self.path, self.rejects_path)
            self.cache = ExposureCache()
            self.warnings.extend(self.loaded.warnings)
        return self.loaded

    @property
    def rejected(self) -> int | None:
        return None if self.loaded is None else int(self.loaded.rejected)


def _caseload_frame(source: Path, registry: _RegistryForCompare) -> pd.DataFrame:
    """Return a caseload frame from a run folder, a caseload Parquet, or a scenario to run."""
    import pandas as pd

    from rahat.geo.errors import UnreadableFileError

    if source.is_dir():
        source = source / "caseload.parquet"
    if source.suffix.lower() in _SCENARIO_SUFFIXES:
        from rahat.engine.pipeline import hazard_warnings, load_hazards
        from rahat.engine.targeting import evaluate

        scenario = _load(source)
        loaded = registry.get(source)
        reg = loaded.registry
        hazards = load_hazards(scenario, registry_extent=reg.bounds())
        registry.warnings.extend(w for w in hazard_warnings(hazards) if w not in registry.warnings)
        if scenario.budget.same_as is not None:
            from rahat.engine.pipeline import resolve_budget

            scenario = resolve_budget(scenario, reg, cache=registry.cache)[0]
        return evaluate(scenario, registry.cache.exposure(reg, hazards, scenario)).frame
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
        "totals": {k: v for k, v in result.totals.items() if k != "cut"},
        "cut": caseload.totals["cut"],
        "registry_rejected": result.registry_rejected,
        "rejected_reasons": result.rejected_reasons,
        "warnings": list(result.warnings),
        "location_mismatches": result.location_mismatches,
        "explanations": caseload.explain(),
        "outputs": {k: str(v) for k, v in result.outputs.items()},
        "phases": result.phases,
        "peak_rss_mb": peak_memory_mb(),
        **caseload.report,  # stale_records, gap: only when the run has them
    }


def cut_line(totals: dict[str, Any]) -> str | None:
    """Return the cut line of a caseload in words, or ``None`` when nobody eligible was cut."""
    cut = totals["cut"]
    if cut.get("first_unselected_rank") is None:
        return None
    first = f"rank {cut['first_unselected_rank']:,} (score {cut['score_first_unselected']:.3f})"
    if cut["last_selected_rank"] is None:
        last = "nobody is selected: the budget does not cover one transfer"
    else:
        last = (
            f"the last selected is rank {cut['last_selected_rank']:,} "
            f"(score {cut['score_at_cut']:.3f})"
        )
    by_budget, by_quota = cut.get("cut_by_budget", 0), cut.get("cut_by_quota", 0)
    if by_quota:
        return (
            f"{by_quota:,} eligible household(s) cut by full quotas in "
            f"{cut.get('quota_units_full', 0):,} of {cut['quota_units']:,} quota units; the "
            f"highest cut is {first}, {last}"
        )
    return f"{by_budget:,} eligible household(s) cut by the budget from {first} on; {last}"


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
        *(c for c in OPTION_COLUMNS if c in summary.columns),
    ]
    _table(f"{name}: caseload by {levels[-1]}", summary[cols])
    totals = caseload.totals
    console.print(
        f"[bold]{esc(name)}[/]: {totals['selected']:,} households selected of "
        f"{totals['eligible']:,} eligible ({totals['exposed']:,} exposed), "
        f"{totals['people']:,} people, Rs {totals['amount']:,}",
        highlight=False,
    )
    line = cut_line(totals)
    if line is not None:
        console.print(f"cut line: {line}", highlight=False)
    for message in caseload.explain():
        console.print(f"[yellow]note:[/] {esc(message)}", highlight=False)
    print_registry_notes(result.registry_rejected, result.outputs.get("rejects"), result.warnings)
    if result.location_mismatches:
        console.print(
            f"[yellow]note:[/] {result.location_mismatches:,} household(s) are recorded in a "
            "district other than the one at their location",
            highlight=False,
        )
    names = ", ".join(p.name for p in result.outputs.values())
    console.print(esc(f"outputs in {out}: {names}"))


#: ``run``, ``compare`` and ``sweep``: commands at the root of ``rahat``.
app = typer.Typer()


@app.command("run")
def run(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (YAML or JSON).")],
    registry: Annotated[Path, typer.Option("--registry", help="Registry file or snapshot folder.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    outputs: Annotated[
        str | None,
        typer.Option(
            "--outputs",
            help="Files to write, comma-separated: parquet,csv,gpkg,summary,map,manifest "
            "(default all but csv; parquet, summary and manifest always).",
        ),
    ] = None,
    gap: Annotated[Path | None, typer.Option("--gap", help=GAP_HELP)] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="Overlay on a Dask cluster: local:N (N worker processes) or tcp://host:8786 "
            "(default: RAHAT_DASK_SCHEDULER, else this process). The caseload is the same.",
        ),
    ] = None,
) -> None:
    """Evaluate a scenario on a registry and write caseload, summary, map and manifest."""
    startup = seconds_since_process_start()  # interpreter and command line, up to this line
    started = time.perf_counter()
    from rahat.engine.distributed.cluster import cluster_spec, optional_client, worker_peak_rss_mb
    from rahat.engine.pipeline import ExposureCache, run_scenario
    from rahat.engine.targeting.outputs import parse_formats

    modules_s = time.perf_counter() - started
    with user_errors():
        check_output_folder(out)
        formats = parse_formats(outputs)
        started = time.perf_counter()
        loaded = _load(scenario)
        gap_table = read_gap_option(gap, loaded)
        scenario_s = time.perf_counter() - started
        started = time.perf_counter()
        households = load_cli_registry(registry, None)  # its rejects go with the outputs
        registry_s = time.perf_counter() - started
        spec = cluster_spec(cluster)
        with (
            optional_client(spec) as client,
            progress_bar(not as_json) as progress,
        ):
            cache = ExposureCache(client=client)
            result = run_scenario(
                loaded,
                registry=households,
                out_dir=out,
                progress=progress,
                formats=formats,
                gap=gap_table,
                cache=cache,
            )
            workers = worker_peak_rss_mb(client) if client is not None else None
    result.phases = {
        "startup": round(startup, 3),
        "modules": round(modules_s, 3),
        "scenario": round(scenario_s, 3),
        **result.phases,
        "registry": round(registry_s + result.phases.get("registry", 0.0), 3),
    }
    if as_json:
        payload = run_payload(loaded.name, result)
        if workers is not None:
            payload["cluster"] = {
                "spec": spec,
                "peak_worker_rss_mb": workers,
                "phases": cache.cluster_seconds(),
                "moved_mb": cache.cluster_moved_mb(),
            }
        print_json(payload)
        return
    print_run(loaded.name, result, out)


@app.command("compare")
def compare(
    a: Annotated[Path, typer.Argument(help="Baseline: run folder, caseload.parquet or scenario.")],
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
    from rahat.engine.pipeline import REJECTS_FILE
    from rahat.engine.targeting import compare_caseloads
    from rahat.geo.files import atomic_write

    reg = _RegistryForCompare(registry, out / REJECTS_FILE if out is not None else None)
    with user_errors():
        if out is not None:
            check_output_folder(out)
        result = compare_caseloads(_caseload_frame(a, reg), _caseload_frame(b, reg))
    written: dict[str, str] = {}
    if reg.loaded is not None and reg.rejects_path is not None:
        written["rejects"] = str(reg.rejects_path)
    if out is not None:
        by_district, households = result.by_district, result.households
        written["comparison"] = str(
            atomic_write(out / "comparison.csv", lambda t: by_district.to_csv(t, index=False))
        )
        written["households"] = str(
            atomic_write(out / "households.csv", lambda t: households.to_csv(t, index=False))
        )
    if as_json:
        print_json(
            {
                "totals": result.totals,
                "registry_rejected": reg.rejected,
                "warnings": reg.warnings,
                "outputs": written,
            }
        )
        return
    _table("caseload B vs A by district", result.by_district)
    if reg.loaded is not None:
        print_registry_notes(reg.loaded.rejected, reg.rejects_path, reg.warnings)
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
    gap: Annotated[Path | None, typer.Option("--gap", help=GAP_HELP)] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="Overlay and grid points on a Dask cluster: local:N (N worker processes) or "
            "tcp://host:8786 (default: RAHAT_DASK_SCHEDULER, else this process). The table is "
            "the same.",
        ),
    ] = None,
) -> None:
    """Evaluate a scenario over a parameter grid on one overlay; write a table and heatmap."""
    from rahat.engine.distributed.cluster import cluster_spec, optional_client, worker_peak_rss_mb
    from rahat.engine.distributed.sweep import distributed_sweep
    from rahat.engine.pipeline import (
        REJECTS_FILE,
        ExposureCache,
        hazard_warnings,
        load_hazards,
    )
    from rahat.engine.targeting import sweep
    from rahat.engine.targeting.maps import sweep_heatmap
    from rahat.engine.targeting.sweep import METRICS, parse_range
    from rahat.geo.errors import InputError
    from rahat.geo.files import atomic_write

    with user_errors():
        check_output_folder(out)
        if not vary or len(vary) > 2:
            raise InputError("give one or two --vary NAME=start:stop:step options")
        if metric not in METRICS:
            raise InputError(f"unknown --metric '{metric}'; use one of {', '.join(METRICS)}")
        spec = cluster_spec(cluster)
        grid: dict[str, list[float]] = {}
        for item in vary:
            name, sep, values = item.partition("=")
            if not sep:
                raise InputError(f"--vary '{item}': use NAME=start:stop:step")
            grid[name.strip()] = parse_range(values.strip())
        loaded = _load(scenario)
        gap_table = read_gap_option(gap, loaded)
        rejects_path = out / REJECTS_FILE
        reg = load_cli_registry(registry, rejects_path)
        hazards = load_hazards(loaded, registry_extent=reg.registry.bounds())
        warnings = [*reg.warnings, *hazard_warnings(hazards)]
        with optional_client(spec) as client:
            cache = ExposureCache(client=client)
            exposure = cache.exposure(reg.registry, hazards, loaded)
            if loaded.budget.same_as is not None:  # the same money at every grid point
                from rahat.engine.pipeline import resolve_budget

                loaded = resolve_budget(loaded, reg.registry, cache=cache)[0]
            if client is None:
                result = sweep(loaded, exposure, grid, gap=gap_table)
            else:
                result = distributed_sweep(client, loaded, exposure, grid, gap=gap_table)
            workers = worker_peak_rss_mb(client) if client is not None else None
    table = result.table
    csv_path = atomic_write(out / "sweep.csv", lambda t: table.to_csv(t, index=False))
    png_path = atomic_write(out / "sweep.png", lambda t: sweep_heatmap(result, t, metric))
    if as_json:
        payload: dict[str, Any] = {
            "rows": table.to_dict(orient="records"),
            "registry_rejected": reg.rejected,
            "warnings": warnings,
            "outputs": {
                "table": str(csv_path),
                "heatmap": str(png_path),
                "rejects": str(rejects_path),
            },
        }
        if workers is not None:
            payload["cluster"] = {"spec": spec, "peak_worker_rss_mb": workers}
        print_json(payload)
        return
    _table(f"{loaded.name}: sweep", table, limit=60)
    print_registry_notes(reg.rejected, rejects_path, warnings)
    console.print(esc(f"wrote {csv_path} and {png_path}"))
