"""``rahat hazard``: inspect and validate hazard footprints sent by agencies."""

from __future__ import annotations

import functools
import inspect
import math
import typing
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import typer

from rahat.api.cli import hazard_diff
from rahat.api.cli._common import console, esc, print_json, user_errors

if TYPE_CHECKING:
    from rahat.geo.hazards import HazardLayer, TimeSelection

app = typer.Typer(
    name="hazard", help="Inspect and validate hazard footprints.", no_args_is_help=True
)

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


#: The options every command that reads one hazard file takes, in the order ``--help`` shows
#: them, with the :func:`~rahat.geo.hazards.read_hazard` argument each one becomes.
_READ_OPTIONS: tuple[tuple[str, Any, str], ...] = (
    ("kind", KindOpt, "kind"),
    ("crs", CrsOpt, "crs"),
    ("field", FieldOpt, "intensity_field"),
    ("layer", LayerOpt, "layer"),
    ("window", WindowOpt, "window"),
    ("at", AtOpt, "at"),
    ("duration_above", DurationOpt, "duration_above"),
    ("sender", SenderOpt, "sender"),
)


class Reader(Protocol):
    """A command's reader of its hazard file, applying the command's reading options."""

    def __call__(self, file: Path) -> HazardLayer:
        """Read ``file`` into a layer."""
        ...


def _read(file: Path, **opts: Any) -> HazardLayer:
    from rahat.geo.hazards import read_hazard

    time = _time_selection(opts.pop("window"), opts.pop("at"), opts.pop("duration_above"))
    return read_hazard(file, time=time, **opts)


def with_read_options(*, sender: bool) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the hazard reading options (``--kind`` ... ``--duration-above``).

    The decorated command declares its own parameters and a last one, ``read``: a
    :data:`Reader` applying the options. The options follow the command's own in ``--help``;
    ``--sender`` is among them when ``sender`` is true.
    """
    options = [o for o in _READ_OPTIONS if sender or o[0] != "sender"]

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        hints = typing.get_type_hints(command, include_extras=True)
        own = [
            p.replace(annotation=hints[p.name])
            for p in inspect.signature(command).parameters.values()
            if p.name != "read"
        ]
        added = [
            inspect.Parameter(
                name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=kind
            )
            for name, kind, _ in options
        ]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> None:
            given = {target: kwargs.pop(name) for name, _, target in options}
            command(**kwargs, read=lambda file: _read(file, **given))

        params = [*own, *added]
        wrapper.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
        return wrapper

    return decorate


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.6g}"
    return str(value)


def _print_warnings(warnings: list[str] | tuple[str, ...]) -> None:
    for warning in warnings:
        console.print(f"[yellow]warning:[/yellow] {esc(warning)}", highlight=False)


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
    _print_warnings(info["warnings"])


@app.command("inspect")
@with_read_options(sender=True)
def inspect_cmd(
    file: FileArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    *,
    read: Reader,
) -> None:
    """Print kind, CRS, extent, resolution, valid time, area per class and warnings."""
    from rahat.geo.hazards import inspect_hazard

    with user_errors():
        info = inspect_hazard(read(file))
    if as_json:
        print_json(info)
    else:
        _print_summary(info)


@app.command("validate")
@with_read_options(sender=False)
def validate_cmd(file: FileArg, *, read: Reader) -> None:
    """Check a hazard file; exit with code 2 and the reason if Rahat cannot use it."""
    with user_errors():
        layer_ = read(file)
    crs_text = layer_.crs.to_string()
    console.print(
        f"[green]ok[/green] {esc(file.name)}: {layer_.kind.value} ({esc(layer_.units)}), "
        f"{esc(crs_text)}",
        highlight=False,
    )
    _print_warnings(layer_.warnings)


app.add_typer(hazard_diff.app)
