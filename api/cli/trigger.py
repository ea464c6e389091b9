"""``rahat trigger``: evaluate an anticipatory-action trigger, and backtest it over a season."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rahat.api.cli._common import console, esc, print_json, print_warnings, user_errors

if TYPE_CHECKING:
    from rahat.engine.triggers.evaluate import TriggerState

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


def _write_state(out: Path, payload: dict[str, Any]) -> Path:
    from rahat.geo.files import atomic_write

    text = json.dumps(payload, indent=2, default=str, allow_nan=False)
    return atomic_write(out / STATE_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))


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
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Say per area whether each stage fires at --as-of and why; run activation's scenario."""
    from rahat.api.cli._outputs import check_output_folder
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
        run = _run_activation(file, state, registry, out) if registry is not None else None
        if run is not None:
            payload["run"] = run
        if out is not None:
            _write_state(out, payload)
    if as_json:
        print_json(payload)
        return
    print_state(state)
    if run is not None:
        console.print(
            f"activation: caseload of {run['selected']:,} households in {esc(run['out_dir'])}"
        )


def _run_activation(
    file: Any, state: TriggerState, registry: Path, out: Path | None
) -> dict[str, Any] | None:
    """Run the activation stage's scenario on the areas that fire (``None``: none fire)."""
    from rahat.api.cli.targeting import load_cli_registry
    from rahat.engine.pipeline import run_scenario
    from rahat.engine.triggers.evaluate import firing_scenario
    from rahat.geo.errors import TriggerError

    if "activation" not in state.stages:
        return None
    scenario = firing_scenario(file, state, "activation")
    if scenario is None:
        return None
    if out is None:
        raise TriggerError("activation fires: give --out for its caseload")
    folder = out / "activation"
    result = run_scenario(
        scenario,
        registry=load_cli_registry(registry, None),
        out_dir=folder,
        manifest_extra={"trigger": state.as_json()},
    )
    return {
        "scenario": scenario.name,
        "areas": state.firing("activation"),
        "out_dir": str(folder),
        "selected": int(result.caseload.totals["selected"]),
    }
