"""``rahat hazard diff``: two versions of one event, by area and by households."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rahat.api.cli._common import console, esc, print_json, user_errors
from rahat.api.cli._outputs import check_output_file

#: ``diff``, added to the ``hazard`` group by :mod:`rahat.api.cli.hazard`.
app = typer.Typer()


@app.command("diff")
def diff_cmd(
    old_file: Annotated[Path, typer.Argument(help="The earlier version (e.g. day 3).")],
    new_file: Annotated[Path, typer.Argument(help="The later version (e.g. day 7).")],
    kind: Annotated[
        str | None, typer.Option("--kind", help="Hazard kind of both versions.")
    ] = None,
    field: Annotated[
        str | None, typer.Option("--field", help="Intensity attribute of vector files.")
    ] = None,
    registry: Annotated[
        Path | None,
        typer.Option(help="Registry file: also count households entering and leaving."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="With --registry: write household_id,status here (CSV)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Compare two versions of a footprint, by area and by households.

    Prints km² per class added, removed and kept; with a registry, the households that
    enter, leave or stay in the footprint, by district.
    """
    from rahat.engine.footprint_changes import area_changes
    from rahat.geo.errors import InputError
    from rahat.geo.hazards import read_hazard

    with user_errors():
        if out is not None and registry is None:
            raise InputError("--out lists households: give --registry too")
        if out is not None:
            check_output_file(out, "--out")
        old = read_hazard(old_file, kind=kind, intensity_field=field)
        new = read_hazard(new_file, kind=kind, intensity_field=field)
        result: dict[str, Any] = {"area": area_changes(old, new)}
        if registry is not None:
            result["households"] = _households(registry, old, new, out)
    if as_json:
        print_json(result)
        return
    _print(result)


def _households(registry: Path, old: Any, new: Any, out: Path | None) -> dict[str, Any]:
    from rahat.engine.footprint_changes import footprint_changes
    from rahat.engine.pipeline import load_registry
    from rahat.geo.files import atomic_write

    loaded = load_registry(registry)
    changes = footprint_changes(loaded.registry, old, new)
    if out is not None:
        atomic_write(out, lambda tmp: changes.households.to_csv(tmp, index=False))
    return {
        "registry_rejected": loaded.rejected,
        "totals": changes.totals,
        "by_district": changes.by_district.to_dict(orient="records"),
    }


def _print(result: dict[str, Any]) -> None:
    from rich.table import Table

    area = Table(title="Area per class (km²)")
    columns = list(result["area"][0]) if result["area"] else []
    for name in columns:
        area.add_column(name, justify="left" if name == "class" else "right")
    for row in result["area"]:
        area.add_row(*(f"{v:,.2f}" if isinstance(v, float) else esc(v) for v in row.values()))
    console.print(area)
    households = result.get("households")
    if households is None:
        return
    table = Table(title="Households entering and leaving the footprint")
    for name in ("province", "district", "entered", "left", "stayed"):
        table.add_column(name, justify="left" if name in ("province", "district") else "right")
    for row in households["by_district"]:
        table.add_row(
            esc(row["province"]),
            esc(row["district"]),
            *(f"{row[s]:,}" for s in ("entered", "left", "stayed")),
        )
    t = households["totals"]
    table.add_row(
        "all", "", f"{t['entered']:,}", f"{t['left']:,}", f"{t['stayed']:,}", style="bold"
    )
    console.print(table)
    if households["registry_rejected"]:
        console.print(
            f"[yellow]warning:[/yellow] {households['registry_rejected']:,} registry rows were "
            "rejected; see `rahat registry validate`",
            highlight=False,
        )
