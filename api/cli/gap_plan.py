"""``rahat gap plan``: where to send K registration teams first (issue 14, item 4).

Registered on the ``rahat gap`` group by :mod:`rahat.api.cli.gap`. The algorithm is
:mod:`rahat.engine.gap.outreach`; this module reads the files, calls it and reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rahat.api.cli._common import console, esc, print_json, user_errors
from rahat.api.cli._outputs import check_output_folder

if TYPE_CHECKING:
    import pandas as pd

    from rahat.engine.gap.outreach import OutreachPlan

#: Rejected rows of a sites CSV listed in the manifest (all are counted).
_REJECTS_LISTED = 20


def plan(
    gap: Annotated[
        Path,
        typer.Option(
            "--gap", help="gap_by_unit.csv written by `rahat gap estimate`, or its folder."
        ),
    ],
    sites: Annotated[int, typer.Option("--sites", min=1, help="Sites (teams) to place: K.")],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Folder for outreach_sites.csv, outreach_map.png and manifest.json."
        ),
    ],
    radius_km: Annotated[
        float,
        typer.Option(min=0, help="A site reaches households at most this far (great-circle km)."),
    ] = 15.0,
    decay_km: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            help="Instead of a radius: a share exp(-d / DECAY_KM) of households d km away come.",
        ),
    ] = None,
    footprint: Annotated[
        Path | None,
        typer.Option(help="Hazard file (any format Rahat reads): demand inside counts more."),
    ] = None,
    footprint_weight: Annotated[
        float, typer.Option(min=0, help="Weight of demand inside the footprint (outside: 1).")
    ] = 3.0,
    sites_csv: Annotated[
        Path | None,
        typer.Option(
            help="Candidate sites: CSV with name, lon, lat (default: settlements and tehsil "
            "centres)."
        ),
    ] = None,
    registry: Annotated[
        Path | None,
        typer.Option(
            help="Registry file or snapshot: spread demand over where its households live "
            "(a 5 km grid) instead of over the settlements."
        ),
    ] = None,
    population_raster: Annotated[
        Path | None,
        typer.Option(help="Population raster (GeoTIFF, people per cell) to spread demand by."),
    ] = None,
    raster_unit: Annotated[
        str | None, typer.Option(help="What the raster's cells count: people.")
    ] = None,
    cost_centre: Annotated[
        float, typer.Option(min=0, help="USD per household registered at a site or centre.")
    ] = 0.53,
    cost_door: Annotated[
        float, typer.Option(min=0, help="USD per household registered door to door.")
    ] = 2.47,
    cost_site: Annotated[float, typer.Option(min=0, help="USD to open one site.")] = 0.0,
    referrals: Annotated[
        Path | None,
        typer.Option(
            help="registration_referrals.csv of `rahat claims check`: referred households "
            "become demand points (weighted as in the footprint)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Plan K outreach sites reaching the most expected unregistered bottom-40% households.

    With --referrals, the households a claims check referred to registration are added as
    demand points (at their grid cell, else at their district's demand centroid when their
    tehsil or district P-code matches a planned district); rows that cannot be placed are
    counted in the manifest and printed.
    """
    from rahat.engine.gap.footprint import in_footprint
    from rahat.engine.gap.outreach import Coverage, OutreachOptions, check_sites, plan_outreach
    from rahat.engine.gap.outreach_inputs import demand_points
    from rahat.engine.gap.outreach_outputs import write_outreach
    from rahat.geo.files import sha256_file
    from rahat.geo.registration_centres import registration_centres

    with user_errors():
        check_output_folder(out)
        gap_file = _gap_file(gap)
        options = OutreachOptions(
            sites=sites,
            coverage=Coverage(radius_km=radius_km, decay_km=decay_km),
            footprint_weight=footprint_weight,
            cost_centre=cost_centre,
            cost_door=cost_door,
            cost_site=cost_site,
        )
        candidates, rejected = _candidates(sites_csv)
        check_sites(sites, len(candidates), rejected)
        table = _read_csv(gap_file, "--gap")
        demand = demand_points(table, _places(registry, population_raster), raster_unit=raster_unit)
        referred = placed = None
        if referrals is not None:
            from rahat.engine.gap.outreach_referrals import place_referrals, with_referrals

            placed = place_referrals(_read_csv(referrals, "--referrals"), table, demand)
            demand, referred = with_referrals(demand, placed)
        mask = None
        if footprint is not None:
            from rahat.geo.hazards import read_hazard

            layer = read_hazard(footprint)
            points = demand.points
            mask = in_footprint(layer, points["lon"].to_numpy(), points["lat"].to_numpy())
        result = plan_outreach(demand, candidates, registration_centres(), options, mask, referred)
        if placed is not None:
            result.figures["referrals"] = {
                **placed.figures,
                "reached": result.figures["plan"]["reach_referred"],
            }
        inputs: dict[str, Any] = {"gap": gap_file, "sites_csv": sites_csv, "footprint": footprint}
        inputs["referrals"] = referrals
        inputs["population_raster"] = population_raster
        inputs["registry"] = registry if registry is not None and registry.is_file() else None
        provenance: dict[str, Any] = {
            name: {"file": path.name, "sha256": sha256_file(path)} if path else None
            for name, path in inputs.items()
        }
        provenance["candidates"] = {
            "source": "sites_csv" if sites_csv else "settlements and registration centres",
            "usable": len(candidates),
            "rejected": len(rejected),
            "rejected_rows": rejected.head(_REJECTS_LISTED).to_dict(orient="records"),
        }
        provenance["options"] = {
            "demand_over": "population raster"
            if population_raster
            else "registry households (5 km grid)"
            if registry
            else "settlements",
            "sites": sites,
            "radius_km": None if decay_km is not None else radius_km,
            "decay_km": decay_km,
            "footprint_weight": footprint_weight,
            "raster_unit": raster_unit,
            "cost_centre": cost_centre,
            "cost_door": cost_door,
            "cost_site": cost_site,
        }
        paths = write_outreach(result, out, provenance)
    if as_json:
        print_json(
            {
                "outputs": {key: str(path) for key, path in paths.items()},
                **result.figures,
                "candidates_rejected": len(rejected),
                "sites": result.sites.head(10).round(4).to_dict(orient="records"),
            }
        )
    else:
        _print_summary(result, paths["sites"], len(rejected))


def _places(registry: Path | None, raster: Path | None) -> pd.DataFrame | Path | None:
    """What demand is spread over: the raster, the registry's households, or the settlements."""
    from rahat.geo.errors import InputError

    if registry is not None and raster is not None:
        raise InputError("give --registry or --population-raster to spread demand by, not both")
    if registry is None:
        return raster
    from rahat.api.cli.targeting import load_cli_registry
    from rahat.engine.gap.outreach_inputs import registry_places

    frame = load_cli_registry(registry, None).registry.frame
    return registry_places(frame["lon"].to_numpy(), frame["lat"].to_numpy())


def _gap_file(path: Path) -> Path:
    """``gap_by_unit.csv`` of a folder, or the file itself."""
    from rahat.engine.gap.outputs import GAP_FILE
    from rahat.geo.errors import InputError

    file = path / GAP_FILE if path.is_dir() else path
    if not file.is_file():
        raise InputError(f"--gap: no such file {file} (give gap_by_unit.csv or its folder)")
    return file


def _read_csv(path: Path, option: str) -> pd.DataFrame:
    """A CSV file as a frame (names such as ``NA`` kept as text); unreadable: InputError."""
    import pandas as pd

    from rahat.geo.errors import InputError

    if not path.is_file():
        raise InputError(f"{option}: no such file {path}")
    try:
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{option}: cannot read {path} as CSV: {exc}") from None


def _candidates(sites_csv: Path | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Candidate sites (the default ones, or the usable rows of ``sites_csv``), rejected rows."""
    from rahat.engine.gap.outreach_inputs import candidate_sites, default_candidates

    frame = default_candidates() if sites_csv is None else _read_csv(sites_csv, "--sites-csv")
    found = candidate_sites(frame)
    return found.sites, found.rejected


def _print_summary(result: OutreachPlan, sites_path: Path, rejected: int) -> None:
    """The plan in a few lines: reach, baseline, costs and anything left out."""
    fig = result.figures
    plan_fig, base, demand = fig["plan"], fig["baseline"], fig["demand"]
    console.print(
        f"wrote {esc(sites_path)}: {fig['sites_planned']} sites reach about "
        f"{plan_fig['reach']:,.0f} of {demand['households']:,.0f} expected unregistered "
        f"bottom-40% households ({plan_fig['share']:.1%}; {fig['coverage']})"
    )
    if demand["in_footprint"] is not None:
        console.print(
            f"in the footprint: {plan_fig['reach_in_footprint']:,.0f} of "
            f"{demand['in_footprint']:,.0f} reached (weight {fig['footprint_weight']:g})"
        )
    console.print(
        f"one centre per tehsil ({base['centres']} centres): {base['reach']:,.0f} "
        f"({base['share']:.1%}); its best {base['k_centres']}: {base['k_centres_reach']:,.0f}"
    )
    per = plan_fig["cost_per_household"]
    console.print(
        f"cost: USD {plan_fig['cost_total']:,.2f} ("
        + (f"{per:.2f}" if per is not None else "-")
        + f" per household) vs USD {plan_fig['door_to_door_total']:,.2f} door to door"
    )
    if "note" in fig:
        console.print(esc(fig["note"]))
    if demand["unmatched_districts"]:
        unmatched = list(demand["unmatched_districts"])
        names = ", ".join(unmatched[:5]) + (", ..." if len(unmatched) > 5 else "")
        console.print(
            f"not placed: {len(unmatched)} district(s) match no boundary ({esc(names)}): "
            f"{demand['unmatched_households']:,.0f} households"
        )
    if "referrals" in fig:
        _print_referrals(fig["referrals"])
    if rejected:
        console.print(f"left out: {rejected} row(s) of the sites CSV (see manifest.json)")


def _print_referrals(referred: dict[str, Any]) -> None:
    """What became of the referred households: reached, placed, and not placed."""
    placed = referred["placed_at_cell"] + referred["placed_at_district"]
    console.print(
        f"referred by claims: {referred['reached']:,.0f} of {placed:,.0f} placed households "
        f"reached ({referred['placed_at_cell']:,.0f} at their grid cell, "
        f"{referred['placed_at_district']:,.0f} at their district's centre)"
    )
    if referred["unplaced_rows"]:
        names = list(referred["unplaced"])
        shown = ", ".join(names[:5]) + (", ..." if referred["unplaced_rows"] > 5 else "")
        console.print(
            f"not placed: {referred['unplaced_rows']} referral row(s) with no location and no "
            f"tehsil or district P-code of a planned district ({esc(shown)}): "
            f"{referred['unplaced_households']:,.0f} households"
        )
