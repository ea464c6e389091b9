"""``rahat report``: the printable brief of a run folder, one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from rahat.api.cli._common import console, esc, user_errors

if TYPE_CHECKING:
    from rahat.api.service.brief_text import Grouping

#: ``rahat report``, added to the root application (no group of its own).
app = typer.Typer()


@app.command("report")
def report(
    run_dir: Annotated[Path, typer.Argument(help="Run folder written by `rahat run`.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="HTML file to write (default RUN_DIR/brief.html).")
    ] = None,
    level: Annotated[
        str, typer.Option("--level", help="Finest table: district or tehsil.")
    ] = "district",
    grouping: Annotated[
        str, typer.Option("--grouping", help="Digits: intl (1,234,567) or pk (12,34,567).")
    ] = "intl",
    k: Annotated[
        int | None,
        typer.Option(
            "--k", help="Withhold figures of fewer than K households (default RAHAT_K_ANONYMITY)."
        ),
    ] = None,
    full: Annotated[
        bool,
        typer.Option("--full", help="Operator's full figures and the run's own map (no k)."),
    ] = False,
    scenario: Annotated[
        Path | None,
        typer.Option("--scenario", help="Scenario file (default: the shipped one of its name)."),
    ] = None,
) -> None:
    """Write the brief a planner takes into the meeting: scenario, totals, map, tables, hashes.

    By default figures are shown as the API shows them to non-admins (units of fewer than k
    households withheld, a district map without households); print it to PDF from a browser.
    """
    from rahat.api.service.brief import (
        LEVELS,
        BriefOptions,
        read_manifest,
        render_brief,
        scenario_of,
    )
    from rahat.api.service.brief_text import GROUPINGS
    from rahat.api.service.maps import aggregate_map
    from rahat.api.service.settings import Settings
    from rahat.geo.errors import InputError
    from rahat.geo.files import atomic_write

    with user_errors():
        if level not in LEVELS:
            raise InputError(f"--level '{level}': use district or tehsil")
        if grouping not in GROUPINGS:
            raise InputError(f"--grouping '{grouping}': use intl or pk")
        if full and k is not None:
            raise InputError("--full shows every figure; leave out --k")
        threshold = None if full else (Settings().k_anonymity if k is None else k)
        if threshold is not None and threshold < 1:
            raise InputError(f"--k {threshold}: use 1 or more (or --full for the full figures)")
        if not run_dir.is_dir():
            raise InputError(f"{run_dir} is not a folder")
        manifest = read_manifest(run_dir)
        if threshold is None:
            own = run_dir / "map.png"
            map_png = own.read_bytes() if own.is_file() else None
        else:
            map_png = aggregate_map(run_dir, threshold).read_bytes()
        options = BriefOptions(threshold, level, cast("Grouping", grouping))
        html = render_brief(
            run_dir,
            run_id=run_dir.resolve().name,
            manifest=manifest,
            scenario=scenario_of(manifest, scenario),
            options=options,
            map_png=map_png,
        )
    target = out if out is not None else run_dir / "brief.html"
    atomic_write(target, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    console.print(f"wrote {esc(target)}", highlight=False)
