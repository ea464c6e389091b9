"""``rahat gap``: whom the registry misses, per province and district, from a sample survey."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rahat.api.cli._common import console, esc, print_json, user_errors
from rahat.api.cli._outputs import check_output_folder

if TYPE_CHECKING:
    import pandas as pd

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
        Path, typer.Option("--out", help="Folder for gap_by_unit.csv and manifest.json.")
    ],
    denominators: Annotated[
        Denominators,
        typer.Option(
            help="Households per district: the 2023 census (real registries) or the survey's own "
            "weighted estimate (a synthetic or scaled-down registry)."
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
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Estimate, per province and district, households, coverage and unregistered poor."""
    from rahat.api.cli.targeting import load_cli_registry
    from rahat.engine.gap import GapOptions, estimate_gap
    from rahat.engine.gap.outputs import write_gap
    from rahat.geo.files import sha256_file

    with user_errors():
        check_output_folder(out)
        frame = _read_survey(survey)
        loaded = load_cli_registry(registry, None)
        households = _census() if denominators is Denominators.census else None
        options = GapOptions(bootstrap=bootstrap, seed=seed, stale_years=stale_years)
        table = estimate_gap(frame, loaded.registry.frame, households, options)
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
        }
        paths = write_gap(table, out, provenance)
    national = table[table["level"] == "province"]["unregistered_b40_est"].sum()
    methods = {str(k): int(v) for k, v in table["method"].value_counts().items()}
    payload: dict[str, object] = {
        "outputs": {key: str(path) for key, path in paths.items()},
        "units": len(table),
        "methods": methods,
        "unregistered_b40_est": round(float(national)),
    }
    if as_json:
        print_json(payload)
    else:
        console.print(
            f"wrote {esc(paths['gap'])}: {len(table)} units, about "
            f"{round(float(national)):,} unregistered bottom-40% households "
            f"(methods: {', '.join(f'{k} {v}' for k, v in methods.items())})"
        )


def _read_survey(path: Path) -> pd.DataFrame:
    """The survey file as a frame (Parquet, else CSV)."""
    import pandas as pd

    from rahat.geo.errors import InputError

    if not path.is_file():
        raise InputError(f"--survey: no such file {path}")
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    raise InputError(f"--survey: use a Parquet or CSV file, not {path.suffix or 'no extension'}")


def _census() -> pd.DataFrame:
    """2023 census households per district, as the estimator takes them."""
    from rahat.geo.denominators import district_households

    census = district_households()
    return census.rename(columns={"households_2023": "households"})[
        ["province", "district", "households"]
    ]
