"""``rahat demo``: the main job, end to end on the embedded defaults.

Builds (once, then cached) a census-calibrated demo registry, runs the 2022 flood scenarios on
it (BISP's admin-unit targeting as it was done, and the same money targeted by the footprint),
writes the caseloads into ``./rahat-out`` and prints what it did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rahat.api.cli._common import console, print_json, progress_bar, user_errors

#: Households in the demo population (the registered subset is about 84% of it).
DEMO_HOUSEHOLDS = 300_000
DEMO_SEED = 2022

#: The scenarios the demo runs, in order: (file in scenarios/, output sub-folder).
DEMO_SCENARIOS = (
    ("bisp_2022_as_done.yaml", "bisp_2022_as_done"),
    ("flood_2022_footprint.yaml", "flood_2022_footprint"),
)


def demo_registry(households: int = DEMO_HOUSEHOLDS, seed: int = DEMO_SEED) -> Path:
    """Return the cached demo registry file, building it on first use."""
    from rahat.geo.paths import cache_dir
    from rahat.geo.registry.synth import write_demo

    folder = cache_dir() / "demo" / f"households-{households}-seed-{seed}"
    registry = folder / "registry.parquet"
    if not registry.exists():
        with progress_bar() as progress:
            write_demo(households, seed, folder, progress=progress)
    return registry


def run_demo(out: Path, households: int = DEMO_HOUSEHOLDS) -> dict:
    """Build the demo registry and run the demo scenarios; return what was done."""
    from rahat.engine.pipeline import ExposureCache, run_scenario
    from rahat.engine.targeting import compare_caseloads, load_scenario
    from rahat.geo.paths import scenarios_dir
    from rahat.geo.registry.summary import describe
    from rahat.geo.registry.validate import read_registry

    registry_path = demo_registry(households)
    summary = describe(read_registry(registry_path).registry)
    cache = ExposureCache()
    runs = {}
    caseloads = []
    for file_name, folder in DEMO_SCENARIOS:
        scenario = load_scenario(scenarios_dir() / file_name)
        with progress_bar() as progress:
            result = run_scenario(
                scenario,
                registry_path=registry_path,
                out_dir=out / folder,
                progress=progress,
                cache=cache,
            )
        caseloads.append(result.caseload)
        runs[scenario.name] = {
            "totals": result.totals,
            "outputs": {k: str(v) for k, v in result.outputs.items()},
        }
    comparison = compare_caseloads(caseloads[0], caseloads[1])
    return {
        "registry": str(registry_path),
        "registry_summary": summary,
        "runs": runs,
        "comparison": comparison.totals,
    }


def demo(
    out: Annotated[Path, typer.Option(help="Folder for the outputs.")] = Path("rahat-out"),
    households: Annotated[
        int, typer.Option(min=1000, help="Households in the demo population.")
    ] = DEMO_HOUSEHOLDS,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run Rahat end to end on the bundled data and a demo registry."""
    from rahat.api.cli.registry import print_summary

    with user_errors():
        done = run_demo(out, households)
    if as_json:
        print_json(done)
        return
    print_summary(done["registry_summary"], title=f"Demo registry ({done['registry']})")
    for name, run in done["runs"].items():
        totals = run["totals"]
        console.print(f"\n[bold]{name}[/]")
        for key, value in totals.items():
            console.print(f"  {key}: {value:,}" if isinstance(value, int) else f"  {key}: {value}")
        console.print(f"  outputs: {Path(run['outputs']['caseload.parquet']).parent}")
    console.print("\n[bold]BISP 2022 as done vs targeted by the footprint[/]")
    for key, value in done["comparison"].items():
        console.print(f"  {key}: {value:,}" if isinstance(value, int) else f"  {key}: {value}")


def register(app: typer.Typer) -> None:
    """Add ``rahat demo`` to the root application."""
    app.command("demo")(demo)
