"""``rahat trigger``: evaluate an anticipatory-action trigger, and backtest it over a season."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rahat.api.cli._common import console, esc, print_json, print_warnings, user_errors

if TYPE_CHECKING:
    from rahat.engine.triggers.backtest import Replay
    from rahat.engine.triggers.evaluate import TriggerState
    from rahat.engine.triggers.files import TriggerFile

#: ``rahat trigger ...``.
app = typer.Typer(name="trigger", help="Anticipatory action: evaluate and backtest triggers.")

STATE_FILE = "trigger_state.json"


def print_state(state: TriggerState) -> None:
    """Print, per stage, how many areas fire and, for each that fires, why."""
    console.print(
        f"trigger [bold]{esc(state.trigger)}[/] as of {state.as_of}: "
        f"{len(state.areas.codes)} {state.areas.level} areas"
    )
    names = dict(zip(state.areas.codes, state.areas.names, strict=True))
    for stage, found in state.stages.items():
        fires = found["fires"]
        console.print(f"  {stage}: fires in {len(fires)} of {len(state.areas.codes)} areas")
        for code in fires[:20]:
            reasons = []
            for condition in found["conditions"]:
                row = next(r for r in condition["areas"] if r["code"] == code)
                reasons.append(
                    f"{condition['source']} {row['value']} >= {row['threshold']} "
                    f"(members {row['share']:.0%}, first {row['first_day']})"
                )
            console.print(f"    {esc(code)} {esc(names[code])}: {esc('; '.join(reasons))}")
        if len(fires) > 20:
            console.print(f"    ... and {len(fires) - 20} more")
    print_warnings(state.warnings)


def _write_json(path: Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` as JSON at ``path``, atomically (NaN refused, not written as NaN)."""
    from rahat.geo.files import atomic_write

    text = json.dumps(payload, indent=2, default=str, allow_nan=False)
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


@app.command("evaluate")
def evaluate(
    trigger: Annotated[Path, typer.Argument(help="Trigger file (YAML or JSON).")],
    as_of: Annotated[str, typer.Option("--as-of", help="Decision date, YYYY-MM-DD.")],
    forecast: Annotated[
        Path | None,
        typer.Option("--forecast", help="Forecast file for the trigger's source without a path."),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option("--source", help="Source the --forecast file is for (default: the one)."),
    ] = None,
    registry: Annotated[
        Path | None,
        typer.Option("--registry", help="Registry: run the stage's scenario where it fires."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the state and run.")] = None,
    outputs: Annotated[
        str | None,
        typer.Option(
            "--outputs",
            help="Files of each stage's run, as for rahat run (default all but csv).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Say per area whether each stage fires at --as-of and why; run the firing stages' scenarios.

    With --registry and --out, each stage that fires and names a scenario runs it on the areas
    where it fires: readiness a provisional caseload, activation the one to pay.
    """
    from rahat.api.cli._outputs import check_output_folder
    from rahat.engine.targeting.outputs import parse_formats
    from rahat.engine.triggers.evaluate import evaluate_trigger
    from rahat.engine.triggers.files import load_trigger
    from rahat.geo.errors import TriggerError

    with user_errors():
        if out is not None:
            check_output_folder(out)
        file = load_trigger(trigger)
        given = None
        if forecast is not None:
            open_sources = [n for n, s in file.trigger.sources.items() if s.path is None]
            name = source or (open_sources[0] if len(open_sources) == 1 else None)
            if name is None or name not in file.trigger.sources:
                raise TriggerError(
                    "--forecast: say which source it is for with --source (sources: "
                    f"{', '.join(sorted(file.trigger.sources))})"
                )
            given = {name: forecast}
        state = evaluate_trigger(file, as_of, given)
        payload = state.as_json()
        formats = parse_formats(outputs)
        runs = _run_stages(file, state, registry, out, formats) if registry is not None else {}
        if runs:
            payload["runs"] = runs
        if out is not None:
            _write_json(out / STATE_FILE, payload)
    if as_json:
        print_json(payload)
        return
    print_state(state)
    for stage, run in runs.items():
        console.print(
            f"{stage}: caseload of {run['selected']:,} households in {esc(run['out_dir'])}"
        )


def _run_stages(
    file: Any, state: TriggerState, registry: Path, out: Path | None, formats: Any = None
) -> dict[str, dict[str, Any]]:
    """Run each firing stage's scenario on the areas where it fires, into ``out/<stage>``.

    Readiness gives a provisional caseload ahead of the decision; activation the one to pay.
    They share one registry load and one overlay cache, so activation reuses readiness's
    overlay.
    """
    from rahat.api.cli.targeting import load_cli_registry
    from rahat.engine.pipeline import ExposureCache, run_scenario
    from rahat.engine.triggers.evaluate import firing_scenario
    from rahat.geo.errors import TriggerError

    todo = [
        (stage, scenario)
        for stage in state.stages
        if file.trigger.stages[stage].scenario is not None
        and (scenario := firing_scenario(file, state, stage)) is not None
    ]
    if not todo:
        return {}
    if out is None:
        raise TriggerError(f"{todo[0][0]} fires: give --out for its caseload")
    households, cache = load_cli_registry(registry, None), ExposureCache()
    runs = {}
    for stage, scenario in todo:
        folder = out / stage
        result = run_scenario(
            scenario,
            registry=households,
            out_dir=folder,
            cache=cache,
            formats=formats,
            manifest_extra={"trigger": {**state.as_json(), "stage": stage}},
        )
        runs[stage] = {
            "scenario": scenario.name,
            "areas": state.firing(stage),
            "out_dir": str(folder),
            "selected": int(result.caseload.totals["selected"]),
        }
    return runs


def _sources(pairs: list[str] | None) -> dict[str, Path]:
    from rahat.geo.errors import TriggerError

    out: dict[str, Path] = {}
    for pair in pairs or []:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise TriggerError(f"--history '{pair}': write it as SOURCE=FILE")
        out[name] = Path(path)
    return out


@app.command("backtest")
def backtest(
    trigger: Annotated[Path, typer.Argument(help="Trigger file (YAML or JSON).")],
    observed: Annotated[
        Path, typer.Option("--observed", help="Observed outcome: CSV of pcode, flood_share.")
    ],
    history: Annotated[
        list[str] | None,
        typer.Option("--history", help="SOURCE=FILE: the series to replay for a source."),
    ] = None,
    start: Annotated[str | None, typer.Option("--from", help="First as-of date.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last as-of date.")] = None,
    flooded_share: Annotated[
        float, typer.Option("--flooded-share", help="Observed share from which an area flooded.")
    ] = 0.1,
    event_from: Annotated[
        str, typer.Option("--event-from", help="First day of the observed flood period.")
    ] = "2022-08-01",
    event_to: Annotated[
        str, typer.Option("--event-to", help="Last day of the observed flood period.")
    ] = "2022-08-31",
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the tables and the timeline.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="Replay on a Dask cluster: local:N (N worker processes) or tcp://host:8786 "
            "(default: RAHAT_DASK_SCHEDULER, else this process). The tables are the same.",
        ),
    ] = None,
) -> None:
    """Replay a trigger day by day over a season and score each stage against the outcome."""
    from rahat.api.cli._outputs import check_output_folder
    from rahat.engine.distributed.cluster import cluster_spec
    from rahat.engine.triggers.backtest import plot_timeline, read_observed, season_table
    from rahat.engine.triggers.files import load_trigger
    from rahat.geo.errors import TriggerError

    with user_errors():
        if not 0.0 < flooded_share <= 1.0:
            raise TriggerError("--flooded-share must be in (0, 1]")
        spec = cluster_spec(cluster)
        if out is not None:
            check_output_folder(out)
        file = load_trigger(trigger)
        outcome = read_observed(observed)
        result, workers = _replay(file, start, end, _sources(history), spec)
        tables, overall = [], []
        for stage in result.fired:
            rows, figures = season_table(
                result,
                stage,
                outcome,
                flooded_share=flooded_share,
                event_from=event_from,
                event_to=event_to,
            )
            tables.append(rows.assign(stage=stage))
            overall.append(figures)
        payload = {
            "trigger": result.trigger,
            "from": str(result.days[0]),
            "to": str(result.days[-1]),
            "areas": len(result.areas.codes),
            "left_out": result.left_out,
            "flooded_share": flooded_share,
            "event": [event_from, event_to],
            "stages": overall,
            "warnings": result.warnings,
        }
        if out is not None:
            _write_backtest(
                out,
                payload,
                tables,
                lambda path: plot_timeline(result, outcome, flooded_share, path),
            )
    if as_json:
        if workers is not None:  # printed only: the files are the same with or without
            payload["cluster"] = {"spec": spec, "peak_worker_rss_mb": workers}
        print_json(payload)
        return
    _print_backtest(payload)


def _replay(
    file: TriggerFile,
    start: str | None,
    end: str | None,
    given: dict[str, Path],
    spec: str | None,
) -> tuple[Replay, dict[str, float] | None]:
    """The replay, on the cluster ``spec`` if given, and then its workers' peak memory (MiB)."""
    from rahat.engine.triggers.backtest import replay

    if spec is None:
        return replay(file, start, end, given), None
    from rahat.engine.distributed.backtest import distributed_replay
    from rahat.engine.distributed.cluster import cluster_client, worker_peak_rss_mb

    with cluster_client(spec) as client:
        return distributed_replay(client, file, start, end, given), worker_peak_rss_mb(client)


def _write_backtest(out: Path, payload: dict[str, Any], tables: list[Any], plot: Any) -> None:
    import pandas as pd

    from rahat.geo.files import atomic_write

    areas = pd.concat(tables, ignore_index=True)
    atomic_write(out / "backtest_areas.csv", lambda tmp: areas.to_csv(tmp, index=False))
    plot(out / "backtest_timeline.png")
    _write_json(out / "backtest.json", payload)


def _print_backtest(payload: dict[str, Any]) -> None:
    from rich.table import Table

    def score(triple: list[float | None]) -> str:
        value, low, high = triple
        return "-" if value is None else f"{value:.2f} ({low:.2f}-{high:.2f})"

    console.print(
        f"backtest of [bold]{esc(payload['trigger'])}[/] from {payload['from']} to "
        f"{payload['to']}: {payload['areas']} areas ({len(payload['left_out'])} without data "
        f"left out); flooded = observed share >= {payload['flooded_share']:.0%} in "
        f"{payload['event'][0]} .. {payload['event'][1]}"
    )
    table = Table("stage", "hits", "misses", "false alarms", "correct neg.", "POD", "FAR", "CSI")
    table.add_column("activation freq.")
    table.add_column("lead days (median)")
    for s in payload["stages"]:
        table.add_row(
            s["stage"],
            str(s["hits"]),
            str(s["misses"]),
            str(s["false_alarms"]),
            str(s["correct_negatives"]),
            score(s["pod"]),
            score(s["far"]),
            score(s["csi"]),
            score(s["activation_frequency"]),
            "-" if s["lead_days_median"] is None else f"{s['lead_days_median']:g}",
        )
    console.print(table)
    console.print("(95% Wilson intervals in brackets)")
    print_warnings(payload["warnings"])
