"""``rahat hazard``: inspect and validate hazard footprints sent by agencies."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rahat.api.cli._common import console, esc, print_json, user_errors
from rahat.api.cli.hazard_diff import add_diff_command

if TYPE_CHECKING:
    from rahat.geo.hazards import HazardLayer, TimeSelection

FileArg = Annotated[
    Path, typer.Argument(help="Hazard file: GeoTIFF, NetCDF, GeoJSON, GPKG, zip, CSV ...")
]
KindOpt = Annotated[
    str | None, typer.Option("--kind", help="Hazard kind (flood_depth, earthquake_mmi, ...).")
]
CrsOpt = Annotated[str | None, typer.Option("--crs", help="CRS to assume if the file has none.")]
FieldOpt = Annotated[
    str | None,
    typer.Option("--field", help="Intensity attribute, CSV value column or NetCDF variable."),
]
LayerOpt = Annotated[str | None, typer.Option("--layer", help="Layer of a multi-layer file.")]
WindowOpt = Annotated[
    str | None,
    typer.Option("--window", help="Time window START/END (ISO) for max or duration."),
]
AtOpt = Annotated[str | None, typer.Option("--at", help="Use the time step nearest to this time.")]
DurationOpt = Annotated[
    float | None,
    typer.Option("--duration-above", help="Count time steps with value >= this threshold."),
]
SenderOpt = Annotated[str | None, typer.Option("--sender", help="Who sent the file.")]


def _time_selection(
    window: str | None, at: str | None, duration_above: float | None
) -> TimeSelection | None:
    from rahat.geo.errors import InputError
    from rahat.geo.hazards import TimeSelection

    start = end = None
    if window:
        if "/" not in window:
            raise InputError(
                f"--window {window!r}: write it as START/END, e.g. 2022-08-01/2022-08-31"
            )
        start, end = (part or None for part in window.split("/", 1))
    try:
        if at is not None:
            if window or duration_above is not None:
                raise InputError("--at cannot be combined with --window or --duration-above")
            return TimeSelection.at_time(at)
        if duration_above is not None:
            return TimeSelection.duration_above(duration_above, start, end)
        if window:
            return TimeSelection.max_over(start, end)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(
            f"cannot read the time given ({exc}); use ISO dates like 2022-08-26"
        ) from None
    return None


def _read(file: Path, **opts: Any) -> HazardLayer:
    from rahat.geo.hazards import read_hazard

    time = _time_selection(opts.pop("window"), opts.pop("at"), opts.pop("duration_above"))
    return read_hazard(file, time=time, **opts)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.6g}"
    return str(value)


def _print_summary(info: dict[str, Any]) -> None:
    from rich.table import Table

    lines = [
        ("name", info["name"]),
        ("kind", f"{info['kind']} ({info['units']})"),
        ("type", f"{info['type']} / {info['format']}"),
        ("CRS", info["crs"]),
        ("extent", ", ".join(f"{v:.6g}" for v in info["extent"])),
        ("extent (lon/lat)", ", ".join(f"{v:.5f}" for v in info["extent_wgs84"])),
    ]
    if info["type"] == "raster":
        lines += [
            ("resolution", " x ".join(f"{v:.6g}" for v in info["resolution"])),
            ("shape", " x ".join(map(str, info["shape"]))),
            ("dtype / nodata", f"{info['dtype']} / {_fmt(info['nodata'])}"),
        ]
    else:
        lines.append(("features", str(info["features"])))
    vt = info["valid_time"]
    lines += [
        ("valid time", " .. ".join(vt) if vt else "-"),
        ("value range", " .. ".join(map(_fmt, info["value_range"] or [None]))),
        ("sha256", info["provenance"]["sha256"]),
    ]
    for key, value in lines:
        console.print(f"[bold]{key:>17}[/bold]  ", end="")
        console.print(value, markup=False, highlight=False)
    table = Table(title=esc(f"Area per class (km², {info['area_crs']}; {info['class_rule']})"))
    for col in ("code", "class", "from", "to", "km²"):
        table.add_column(col, justify="right" if col != "class" else "left")
    for c in info["classes"]:
        table.add_row(
            esc(c["code"]),
            esc(c["label"]),
            _fmt(c["lower"]),
            _fmt(c["upper"]),
            f"{c['area_km2']:,.2f}",
        )
    table.add_row("", "total affected", "", "", f"{info['affected_km2']:,.2f}", style="bold")
    if info["nodata_km2"]:
        table.add_row("-1", "no data", "", "", f"{info['nodata_km2']:,.2f}", style="dim")
    console.print(table)
    for warning in info["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {esc(warning)}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``hazard`` sub-application (``inspect``, ``validate``) to the root app."""
    hazard = typer.Typer(
        name="hazard", help="Inspect and validate hazard footprints.", no_args_is_help=True
    )

    @hazard.command("inspect")
    def inspect_cmd(
        file: FileArg,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        kind: KindOpt = None,
        crs: CrsOpt = None,
        field: FieldOpt = None,
        layer: LayerOpt = None,
        window: WindowOpt = None,
        at: AtOpt = None,
        duration_above: DurationOpt = None,
        sender: SenderOpt = None,
    ) -> None:
        """Print kind, CRS, extent, resolution, valid time, area per class and warnings."""
        from rahat.geo.hazards import inspect_hazard

        with user_errors():
            info = inspect_hazard(
                _read(
                    file,
                    kind=kind,
                    crs=crs,
                    intensity_field=field,
                    layer=layer,
                    window=window,
                    at=at,
                    duration_above=duration_above,
                    sender=sender,
                )
            )
        if as_json:
            print_json(info)
        else:
            _print_summary(info)

    @hazard.command("validate")
    def validate_cmd(
        file: FileArg,
        kind: KindOpt = None,
        crs: CrsOpt = None,
        field: FieldOpt = None,
        layer: LayerOpt = None,
        window: WindowOpt = None,
        at: AtOpt = None,
        duration_above: DurationOpt = None,
    ) -> None:
        """Check a hazard file; exit with code 2 and the reason if Rahat cannot use it."""
        with user_errors():
            layer_ = _read(
                file,
                kind=kind,
                crs=crs,
                intensity_field=field,
                layer=layer,
                window=window,
                at=at,
                duration_above=duration_above,
            )
        crs_text = layer_.crs.to_string()
        console.print(
            f"[green]ok[/green] {esc(file.name)}: {layer_.kind.value} ({esc(layer_.units)}), "
            f"{esc(crs_text)}",
            highlight=False,
        )
        for warning in layer_.warnings:
            console.print(f"[yellow]warning:[/yellow] {esc(warning)}", highlight=False)

    add_diff_command(hazard)
    app.add_typer(hazard)
