"""``rahat registry import`` and ``rahat registry verify``: registry snapshots from the shell.

A snapshot (:mod:`rahat.geo.registry.snapshot`) is a registry file validated once and stored as
memory-mapped Arrow columns; ``rahat run --registry DIR`` and the API use it without reading or
validating the file again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rahat.api.cli._common import (
    EXIT_ROWS_REJECTED,
    console,
    esc,
    print_json,
    progress_bar,
    user_errors,
)
from rahat.api.cli._outputs import check_output_file, check_output_folder

#: ``import`` and ``verify``, added to the ``registry`` group by :mod:`rahat.api.cli.registry`.
app = typer.Typer()


def _payload(info: Any, seconds: float | None = None) -> dict[str, Any]:
    payload = {"folder": str(info.folder), **info.to_json()}
    payload["rejects_file"] = str(info.rejects_path)
    if seconds is not None:
        payload["seconds"] = round(seconds, 2)
    return payload


@app.command("import")
def import_command(
    path: Annotated[Path, typer.Argument(help="Registry file: GeoParquet, Parquet, Feather, CSV.")],
    out: Annotated[
        Path, typer.Option("--out", help="Snapshot folder (a snapshot there is replaced).")
    ],
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", help="Also write the rejected rows here (CSV)."),
    ] = None,
    partitions: Annotated[
        int,
        typer.Option(
            "--partitions",
            min=1,
            max=4096,
            help="List this many runs of households along the Hilbert curve in snapshot.json, "
            "one per worker of a cluster.",
        ),
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Validate a registry file once and write it as a memory-mapped snapshot folder.

    Rejected rows are listed with their reasons in DIR/rejects.csv. Households are sorted by
    household id and along a Hilbert curve and written as uncompressed Arrow columns with
    snapshot.json (sha256, households, rejected rows, schema version, bounds; with
    --partitions N, N runs of rows along the curve, each with its key range and bounds). Runs
    given --registry DIR then start in about a second, without validating again.

    Exit codes: 0 all rows valid, 1 some rows rejected, 2 the file or folder cannot be used.
    """
    import time

    from rahat.geo.registry.snapshot import import_registry

    with user_errors():
        check_output_folder(out)
        if rejects is not None:
            check_output_file(rejects, "--rejects")
        started = time.perf_counter()
        with progress_bar(not as_json) as progress:
            progress("validating and writing the snapshot", 0.1)
            info = import_registry(path, out, rejects_path=rejects, partitions=partitions)
    payload = _payload(info, time.perf_counter() - started)
    if as_json:
        print_json(payload)
    else:
        console.print(
            f"{esc(out)}: snapshot of {esc(path)} with {info.households:,} households "
            f"({info.rejected:,} rows rejected, listed in {esc(info.rejects_path)}), "
            f"{info.size / 1e6:,.1f} MB, in {payload['seconds']} s",
            highlight=False,
        )
    if info.rejected:
        raise typer.Exit(EXIT_ROWS_REJECTED)


@app.command("verify")
def verify_command(
    folder: Annotated[Path, typer.Argument(help="Snapshot folder (or its snapshot.json).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Check a snapshot completely: schema version, sizes, Arrow schema and full sha256.

    Exit codes: 0 the snapshot is intact, 2 it is not (the message says what is wrong).
    """
    from rahat.geo.registry.snapshot import verify_snapshot

    with user_errors():
        info = verify_snapshot(folder)
    if as_json:
        print_json({"ok": True, **_payload(info)})
        return
    console.print(
        f"{esc(folder)}: intact ({info.households:,} households, sha256 {info.sha256[:16]}..., "
        f"imported from {esc(info.source_name)} on {info.created})",
        highlight=False,
    )
