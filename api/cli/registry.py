"""``rahat registry``: build the demo registry, validate registry files, describe them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rahat.api.cli import snapshot
from rahat.api.cli._common import (
    EXIT_INPUT_ERROR,
    EXIT_ROWS_REJECTED,
    console,
    esc,
    print_error,
    print_json,
    progress_bar,
    user_errors,
)
from rahat.api.cli._outputs import check_output_file, check_output_folder

app = typer.Typer(
    name="registry",
    help="Household registry: build the demo registry, validate and inspect files.",
    no_args_is_help=True,
)

__all__ = ["EXIT_ROWS_REJECTED", "app", "print_summary"]


@app.command()
def synth(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for population/survey/registry.parquet.")
    ],
    households: Annotated[int, typer.Option(min=1, help="Households in the population.")] = 300_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = 2022,
    survey_households: Annotated[
        int | None,
        typer.Option(
            min=16,
            help="Households of the sample survey (default: 60,000, at most 5% of them).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Build a census-calibrated demo population, a sample survey of it, and its registry."""
    import time

    from rahat.geo.registry.synth import SURVEY_FILE, write_demo

    started = time.perf_counter()
    with user_errors():
        check_output_folder(out)
    with user_errors(), progress_bar(not as_json) as progress:
        population_path, registry_path = write_demo(
            households, seed, out, progress=progress, survey_households=survey_households
        )
    survey_path = Path(out) / SURVEY_FILE
    payload = {
        "population": str(population_path),
        "survey": str(survey_path),
        "registry": str(registry_path),
        "households": households,
        "seed": seed,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if as_json:
        print_json(payload)
    else:
        console.print(
            f"wrote {esc(population_path)}, {esc(survey_path)} and {esc(registry_path)} "
            f"({households:,} households, seed {seed}) in {payload['seconds']} s"
        )


@app.command()
def validate(
    path: Annotated[Path, typer.Argument(help="GeoParquet, Parquet, Feather or CSV file.")],
    rejects: Annotated[
        Path | None, typer.Option(help="CSV for rejected rows (default: <file>.rejects.csv).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the valid households here as GeoParquet.")
    ] = None,
    flags: Annotated[
        Path | None,
        typer.Option(
            help="CSV for kept households worth a look, such as a point outside its recorded "
            "district (default: <file>.flags.csv, written when there are any)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Validate a registry file; rejected rows go to a rejects file with their reasons.

    Besides the columns' own checks, a row is rejected when its point lies outside Pakistan
    (beyond a small buffer) or its province, district, tehsil or P-codes are not units Rahat
    knows (the reason names the closest). A household whose point lies in another district
    than the one recorded is kept and listed in the flags file.

    Exit codes: 0 all rows valid, 1 some rows rejected (see the rejects file), 2 the file
    cannot be used at all, or it holds no household (no rows, or every row rejected).
    """
    from rahat.geo.registry.io import write_registry
    from rahat.geo.registry.validate import read_registry

    rejects_path = rejects or path.with_name(path.name + ".rejects.csv")
    flags_path = flags or path.with_name(path.name + ".flags.csv")
    with user_errors():
        check_output_file(rejects_path, "--rejects")
        if flags is not None:
            check_output_file(flags_path, "--flags")
        if out is not None:
            check_output_file(out, "--out")
        report = read_registry(path, rejects_path=rejects_path)
        if flags is not None or len(report.flagged):
            report.write_flags(flags_path)
        if out is not None and report.n_valid:
            write_registry(report.registry.frame, out)
    payload = {
        "file": str(path),
        "rows": report.total_rows,
        "valid": report.n_valid,
        "rejected": report.n_rejected,
        "reasons": report.reason_counts,
        "rejects_file": str(rejects_path),
        "flagged": len(report.flagged),
        "flags": report.flag_counts,
        "flags_file": str(flags_path) if flags is not None or len(report.flagged) else None,
        "notes": list(report.notes),
        "ignored_columns": list(report.ignored_columns),
    }
    if as_json:
        print_json(payload)
    else:
        _print_validation(payload)
    empty = report.empty_reason()
    if empty is not None:
        print_error(f"{path}: {empty}")
        raise typer.Exit(EXIT_INPUT_ERROR)
    if report.n_rejected:
        raise typer.Exit(EXIT_ROWS_REJECTED)


def _print_validation(payload: dict) -> None:
    from rich.table import Table

    console.print(
        f"{esc(payload['file'])}: {payload['rows']:,} rows, {payload['valid']:,} valid, "
        f"{payload['rejected']:,} rejected",
        highlight=False,
    )
    tables = (
        ("reasons", ("reason", "rows"), "Rejected rows by reason", "rejected row", "rejects_file"),
        (
            "flags",
            ("flag", "households"),
            "Kept households worth a look",
            "flagged household",
            "flags_file",
        ),
    )
    for key, columns, title, item, file_key in tables:
        if not payload[key]:
            continue
        table = Table(*columns, title=title)
        for name, count in payload[key].items():
            table.add_row(esc(name), f"{count:,}")
        console.print(table)
        console.print(f"every {item} is listed in {esc(payload[file_key])}")
    for note in payload["notes"]:
        console.print(f"note: {esc(note)}")
    if payload["ignored_columns"]:
        console.print(f"ignored columns: {esc(', '.join(payload['ignored_columns']))}")


@app.command()
def info(
    path: Annotated[Path, typer.Argument(help="GeoParquet, Parquet, Feather or CSV file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Describe a registry: households, people, extent and PMT by province."""
    from rahat.geo.registry.summary import describe
    from rahat.geo.registry.validate import read_registry

    with user_errors():
        report = read_registry(path)
        report.require_households()
    summary = describe(report.registry) | {"rejected_rows": report.n_rejected}
    if as_json:
        print_json(summary)
        return
    print_summary(summary, title=str(path))


def print_summary(summary: dict, title: str) -> None:
    """Print a registry summary (from :func:`rahat.geo.registry.summary.describe`) as a table."""
    from rich.table import Table

    table = Table("province", "households", "people", "PMT <= 32", title=esc(title))
    for row in summary["by_province"]:
        table.add_row(
            esc(row["province"]),
            f"{row['households']:,}",
            f"{row['people']:,}",
            f"{row['share_pmt_le_32']:.1%}",
        )
    table.add_row(
        "[bold]Pakistan[/]",
        f"[bold]{summary['households']:,}[/]",
        f"[bold]{summary['people']:,}[/]",
        f"[bold]{summary['share_pmt_le_32']:.1%}[/]",
    )
    console.print(table)
    if summary.get("rejected_rows"):
        console.print(f"{summary['rejected_rows']:,} rows rejected (run `rahat registry validate`)")


app.add_typer(snapshot.app)  # import, verify
