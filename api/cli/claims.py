"""``rahat claims check``: answer a batch of claims ("am I on the list? why not?") at once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rahat.api.cli._common import console, esc, print_json, user_errors

#: ``rahat claims ...``.
app = typer.Typer(name="claims", help="Claims: check a batch against the registry and a run.")


@app.command("check")
def check(
    claims: Annotated[
        Path, typer.Argument(help="Claims CSV (cnic, phone, stated_*, lon, lat, name, address).")
    ],
    registry: Annotated[
        Path, typer.Option("--registry", help="Registry with cnic_token (file or snapshot).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for the decisions and summary.")],
    run: Annotated[
        Path | None, typer.Option("--run", help="Run folder (rahat run --out): its caseload.")
    ] = None,
    velocity: Annotated[
        int, typer.Option("--phone-velocity", min=2, help="Distinct CNICs behind one phone.")
    ] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Give each claim one decision and its reason codes; write them and a summary to --out.

    Claimants not in the registry who are probably one household (same tehsil, and the same
    phone or near-identical name and address) are grouped: unregistered_groups.csv.
    Claimants not registered in the footprint (with --run) are counted per stated tehsil and
    grid cell for registration outreach: registration_referrals.csv (for
    rahat gap plan --referrals).

    CNICs and phones are tokenised under RAHAT_IDENTITY_SECRET as they are read; no number is
    written or printed. Exit code 2 for a claims file, registry or run that cannot be used.
    """
    from rahat.api.cli._outputs import check_output_folder
    from rahat.api.cli.targeting import load_cli_registry
    from rahat.engine.claims.decide import RegistryIndex, decide_claims
    from rahat.engine.claims.outputs import FILES, write_claims_outputs
    from rahat.engine.claims.read import read_claims
    from rahat.engine.claims.run import load_run
    from rahat.geo.registry.identity import secret_from_env

    with user_errors():
        check_output_folder(out)
        secret = secret_from_env()
        batch = read_claims(claims, secret)
        caseload = load_run(run) if run is not None else None
        index = RegistryIndex.build(load_cli_registry(registry, None).registry)
        decided = decide_claims(batch, index, caseload, velocity=velocity)
        payload = write_claims_outputs(
            out,
            batch,
            decided,
            velocity=velocity,
            totals=caseload.totals if caseload is not None else None,
        )
    payload["files"] = {k: str(out / name) for k, name in FILES.items()}
    if as_json:
        print_json(payload)
        return
    console.print(f"{payload['claims']:,} claims checked; decisions in {esc(out)}")
    for code, count in payload["decisions"].items():
        console.print(f"  {esc(code)}: {count:,}")
    flags = {k: v for k, v in payload["reasons"].items() if k not in payload["decisions"]}
    for code, count in flags.items():
        console.print(f"  flagged {esc(code)}: {count:,}")
    groups = payload["unregistered_groups"]
    if groups["groups"]:
        console.print(
            f"  probable same households among the unregistered: {groups['groups']:,} groups "
            f"of {groups['claims']:,} claims (in {esc(out / FILES['groups'])})"
        )
    referred = payload["registration_referrals"]
    if referred["claims"]:
        console.print(
            f"  referred to registration: {referred['households']:,} households "
            f"({referred['claims']:,} claims; in {esc(out / FILES['referrals'])})"
        )
    rejected = {k: v for k, v in payload["rejected_fields"].items() if v}
    if rejected:
        shown = ", ".join(f"{k} {v:,}" for k, v in rejected.items())
        console.print(f"  rows with an unreadable field (ignored): {esc(shown)}")
