"""``rahat gap``: whom the registry misses, per province, district and tehsil, from a survey."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rahat.api.cli._common import console, esc, print_json, user_errors
from rahat.api.cli._outputs import check_output_folder

if TYPE_CHECKING:
    from rahat.engine.gap.footprint import Footprint

app = typer.Typer(
    name="gap",
    help="Coverage gap: households the registry misses, estimated from a sample survey.",
    no_args_is_help=True,
)


class Denominators(StrEnum):
    """Where the households per district come from."""

    census = "census"
    survey = "survey"


@app.command()
def estimate(
    registry: Annotated[
        Path, typer.Option("--registry", help="Registry file or snapshot (registered households).")
    ],
    survey: Annotated[
        Path,
        typer.Option(
            "--survey", help="Survey (Parquet or CSV) with design weights and registration status."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", help="Folder for gap_by_unit.csv, gap_map.png and manifest.json."),
    ],
    denominators: Annotated[
        Denominators,
        typer.Option(
            help="Households per unit: the census (real registries; districts 2023, tehsils 2017 "
            "projected to the registry's date) or the survey's own weighted estimate (a "
            "synthetic or scaled-down registry)."
        ),
    ] = Denominators.census,
    bootstrap: Annotated[
        int, typer.Option(min=20, max=5000, help="Bootstrap replicates for the 90% intervals.")
    ] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    stale_years: Annotated[
        float,
        typer.Option(min=0, max=100, help="A record not updated for longer is counted stale."),
    ] = 5.0,
    footprint: Annotated[
        Path | None,
        typer.Option(
            "--footprint",
            help="Hazard file (any format `rahat hazard inspect` reads): adds each unit's rows "
            "inside it (levels province_footprint, district_footprint, tehsil_footprint).",
        ),
    ] = None,
    population_raster: Annotated[
        Path | None,
        typer.Option(
            "--population-raster",
            help="Population GeoTIFF (people per cell, with a CRS) giving the share of each "
            "unit's households inside the footprint (needs --footprint).",
        ),
    ] = None,
    raster_unit: Annotated[
        str | None,
        typer.Option(
            "--raster-unit",
            help="What the raster's cells count: 'people' (default: the file's own unit tag).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Estimate, per province, district and tehsil, households, coverage and unregistered poor."""
    from rahat.api.cli.targeting import load_cli_registry
    from rahat.engine.gap import GapOptions
    from rahat.engine.gap.inputs import census_households, read_survey, tehsil_census
    from rahat.engine.gap.outputs import write_gap
    from rahat.engine.gap.table import gap_table
    from rahat.geo.errors import InputError
    from rahat.geo.files import sha256_file

    with user_errors():
        check_output_folder(out)
        if population_raster is not None and footprint is None:
            raise InputError(
                "--population-raster only shares households in a --footprint: give one"
            )
        frame = read_survey(survey)
        loaded = load_cli_registry(registry, None)
        rows = loaded.registry.frame
        census = denominators is Denominators.census
        households = census_households() if census else None
        tehsils = tehsil_census(rows) if census else None
        options = GapOptions(bootstrap=bootstrap, seed=seed, stale_years=stale_years)
        cut = _footprint(footprint, population_raster, raster_unit)
        result = gap_table(
            frame, rows, households, options, tehsil_households=tehsils, footprint=cut
        )
        table = result.table
        provenance = {
            "registry": {"file": registry.name, "households": len(loaded.registry)},
            "survey": {
                "file": survey.name,
                "sha256": sha256_file(survey),
                "households": len(frame),
            },
            "denominators": denominators.value,
            "options": {
                "min_households": options.min_households,
                "max_cv": options.max_cv,
                "bootstrap": options.bootstrap,
                "seed": options.seed,
                "stale_years": options.stale_years,
            },
            **result.report,
        }
        if footprint is not None:
            provenance["footprint"] = {"file": footprint.name, "sha256": sha256_file(footprint)}
        if population_raster is not None:
            provenance["population_raster"] = {
                "file": population_raster.name,
                "sha256": sha256_file(population_raster),
                "unit": raster_unit,
            }
        layer = cut.layer if cut is not None else None
        paths = write_gap(table, out, provenance, keys=result.keys, footprint=layer)
    national = table[table["level"] == "province"]["unregistered_b40_est"].sum()
    methods = {str(k): int(v) for k, v in table["method"].value_counts().items()}
    unmatched = _unmatched(result.report)
    payload: dict[str, object] = {
        "outputs": {key: str(path) for key, path in paths.items()},
        "units": len(table),
        "levels": {str(k): int(v) for k, v in table["level"].value_counts(sort=False).items()},
        "methods": methods,
        "unregistered_b40_est": round(float(national)),
        "unmatched": unmatched,
    }
    in_footprint = table[table["level"] == "province_footprint"]
    if cut is not None:
        payload["footprint"] = {
            "unregistered_b40_est": round(float(in_footprint["unregistered_b40_est"].sum())),
            "registered": int(in_footprint["registered"].sum()),
            "share_source": result.report["footprint_share_source"],
        }
    if as_json:
        print_json(payload)
        return
    console.print(
        f"wrote {esc(paths['gap'])}: {len(table)} units, about "
        f"{round(float(national)):,} unregistered bottom-40% households (the provinces' "
        f"direct estimates; methods: {', '.join(f'{k} {v}' for k, v in methods.items())})"
    )
    if cut is not None:
        console.print(
            f"in the footprint: about {round(float(in_footprint['unregistered_b40_est'].sum())):,}"
            f" unregistered bottom-40% households, {int(in_footprint['registered'].sum()):,} "
            f"registered (share of households from the {result.report['footprint_share_source']})"
        )
    for what, found in unmatched.items():
        first = "; ".join(str(name) for name in found["first"])
        console.print(esc(f"not matched: {found['count']} {what.replace('_', ' ')}: {first}"))


def _unmatched(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The report's non-empty mismatches (``count`` and ``first`` names), by kind."""
    return {
        key: value
        for key, value in report.items()
        if isinstance(value, dict) and "count" in value and value["count"]
    }


def _footprint(path: Path | None, raster: Path | None, unit: str | None) -> Footprint | None:
    """``--footprint`` read as a hazard layer, with the population raster, or ``None``."""
    from rahat.engine.gap.footprint import Footprint
    from rahat.geo.hazards import read_hazard

    if path is None:
        return None
    return Footprint(layer=read_hazard(path), population_raster=raster, raster_unit=unit)


from rahat.api.cli.gap_plan import plan  # noqa: E402

app.command()(plan)
