"""``rahat demo``: the main job, end to end on the embedded defaults.

Builds (once, then cached) a census-calibrated demo registry, runs the 2022 flood scenarios on
it (BISP's admin-unit targeting as it was done, and the same money targeted by the footprint),
writes the caseloads into ``./rahat-out`` and prints what it did. Both rules are then measured
against the synthetic truth, every household of the demo *population* (registered or not) that
is exposed and poor (:mod:`rahat.engine.targeting.truth`), into ``truth_comparison.csv``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rahat.api.cli._common import console, esc, print_json, progress_bar, user_errors
from rahat.api.cli._outputs import check_output_folder
from rahat.geo.demo_registry import DEMO_HOUSEHOLDS, DEMO_SEED, demo_registry_path

if TYPE_CHECKING:
    import pandas as pd

    from rahat.engine.gap.table import GapResult
    from rahat.engine.targeting.truth import Truth
    from rahat.geo.hazards import HazardLayer
    from rahat.geo.registry.model import Registry

#: ``rahat demo``, added to the root application (no group of its own).
app = typer.Typer()

#: The scenarios the demo runs, in order: (file in scenarios/, output sub-folder).
DEMO_SCENARIOS = (
    ("bisp_2022_as_done.yaml", "bisp_2022_as_done"),
    ("flood_2022_footprint.yaml", "flood_2022_footprint"),
)

#: Suffix of the run of the first demo rule capped at the second one's spend.
EQUAL_SPEND_SUFFIX = "_at_equal_spend"

#: The truth's exposure: this layer of the demo scenarios at least this intensity (metres).
TRUTH_LAYER = "depth"
TRUTH_MIN_INTENSITY = 0.3

#: File of the truth comparison in the demo's output folder.
TRUTH_FILE = "truth_comparison.csv"

#: Folder of the coverage-gap table in the demo's output folder.
GAP_FOLDER = "gap"
#: Districts the demo's gap table shows (most unregistered poor in the footprint first).
GAP_TOP = 8


def demo_registry(households: int = DEMO_HOUSEHOLDS, seed: int = DEMO_SEED) -> Path:
    """Return the cached demo registry file, building it on first use."""
    from rahat.geo.registry.synth import SURVEY_FILE, write_demo
    from rahat.geo.registry.synth_identity import IDENTITY_FILE

    registry = demo_registry_path(households, seed)
    folder = registry.parent
    # a cache from before the survey or the identity tokens existed is built again, whole
    later = (SURVEY_FILE, IDENTITY_FILE)
    if not registry.exists() or not all((folder / name).exists() for name in later):
        with progress_bar() as progress:
            write_demo(households, seed, folder, progress=progress)
    return registry


def demo_truth(registry_path: Path, runs: list) -> tuple[Truth, pd.DataFrame, HazardLayer]:
    """Measure the demo runs against the truly exposed poor of the demo population.

    The population file lies next to the registry (:func:`demo_registry`); exposure is the
    first run's layer :data:`TRUTH_LAYER` (the synthetic 2022 depth raster) at
    :data:`TRUTH_MIN_INTENSITY` m or more. Returns the truth, its table and that layer.
    """
    from rahat.engine.targeting.truth import load_population, synthetic_truth, truth_table
    from rahat.geo.registry.synth import POPULATION_FILE

    population, registered = load_population(registry_path.parent / POPULATION_FILE)
    layer = flood_layer(runs, population.bounds())
    truth = synthetic_truth(
        population, layer, min_intensity=TRUTH_MIN_INTENSITY, registered=registered
    )
    return truth, truth_table(truth, [(name, result.caseload) for name, _, result in runs]), layer


def flood_layer(runs: list, extent: tuple[float, float, float, float]) -> HazardLayer:
    """The demo flood: layer :data:`TRUTH_LAYER` of the first run's scenario, over ``extent``."""
    from rahat.engine.pipeline import load_hazards

    scenario = runs[0][2].caseload.scenario
    spec = scenario.model_copy(
        update={"hazards": [h for h in scenario.hazards if h.name == TRUTH_LAYER]}
    )
    (layer,) = load_hazards(spec, registry_extent=extent)
    return layer


def demo_gap(
    registry_path: Path, registry: Registry, layer: HazardLayer, out: Path
) -> tuple[GapResult, dict[str, Path]]:
    """Estimate whom the demo registry misses, per unit and in the flood footprint.

    The survey is the one the demo generator wrote next to the registry; households per
    district are the survey's own estimates (the demo registry is a scaled-down sample of the
    country, so census totals would not fit it). The table goes to ``out/gap``
    (:func:`rahat.engine.gap.outputs.write_gap`).
    """
    import dataclasses

    import pandas as pd

    from rahat.engine.gap import GapOptions
    from rahat.engine.gap.footprint import Footprint
    from rahat.engine.gap.outputs import write_gap
    from rahat.engine.gap.table import gap_table
    from rahat.geo.files import sha256_file
    from rahat.geo.registry.synth import SURVEY_FILE

    survey_path = registry_path.parent / SURVEY_FILE
    survey = pd.read_parquet(survey_path)
    options = GapOptions()
    result = gap_table(survey, registry.frame, None, options, footprint=Footprint(layer=layer))
    provenance = {
        "registry": {"file": registry_path.name, "households": len(registry)},
        "survey": {
            "file": survey_path.name,
            "sha256": sha256_file(survey_path),
            "households": len(survey),
        },
        "denominators": "survey",
        "footprint": {"layer": layer.name, "sha256": layer.provenance.sha256},
        "options": {k: v for k, v in dataclasses.asdict(options).items() if v is not None},
    }
    return result, write_gap(
        result.table, out / GAP_FOLDER, provenance, keys=result.keys, footprint=layer
    )


def _tell(message: str) -> None:
    """Print one line on stderr (the registry snapshot was imported)."""
    from rahat.api.cli._common import err_console

    err_console.print(esc(message), highlight=False, soft_wrap=True)


def run_demo(out: Path, households: int = DEMO_HOUSEHOLDS) -> tuple[Path, Registry, list]:
    """Build the demo registry and run the demo scenarios.

    Returns the registry file, the loaded registry (read once, shared by every step) and the
    runs as ``(scenario name, output folder, RunResult)``.

    The overlay is computed once and shared by both scenarios (what-if reuse); the footprint
    scenario's budget (``same_as: bisp_2022_as_done``) is what the first run spends.
    """
    from rahat.engine.pipeline import ExposureCache, load_registry
    from rahat.engine.targeting import load_scenario
    from rahat.geo.paths import scenarios_dir

    registry_path = demo_registry(households)
    cache = ExposureCache()
    # imported into a snapshot once, memory-mapped on later demos; its rejects are written
    # into each run's folder
    loaded = load_registry(registry_path, snapshots=True, notify=_tell)
    runs = []
    for file_name, folder in DEMO_SCENARIOS:
        scenario = load_scenario(scenarios_dir() / file_name)
        runs.append((scenario.name, out / folder, _run(scenario, loaded, out / folder, cache)))
    runs.append(_at_equal_spend(runs, loaded, out, cache))
    return registry_path, loaded.registry, runs


def _at_equal_spend(runs: list, loaded: Any, out: Path, cache: Any) -> tuple[str, Path, Any]:
    """Run the first rule again with what the second one spends: the two at equal spend.

    The footprint rule cannot spend the whole BISP budget on the demo registry (too few
    registered households are flooded), so "the same money" alone compares a rule that spends
    Rs 614 m with one that spends Rs 259 m. This run caps BISP's own rule (notified districts,
    bottom 40% per tehsil, poorest first) at the footprint rule's spend.
    """
    (_, _, first), (_, _, second) = runs[0], runs[1]
    base = first.caseload.scenario
    spent = int(second.caseload.totals["amount"])
    name = f"{base.name}{EQUAL_SPEND_SUFFIX}"
    scenario = base.model_copy(
        update={
            "name": name,
            "description": f"{base.name} capped at what {second.caseload.scenario.name} spends",
            "budget": base.budget.model_copy(update={"total": spent, "same_as": None}),
        }
    )
    return name, out / name, _run(scenario, loaded, out / name, cache)


def _run(scenario: Any, loaded: Any, folder: Path, cache: Any) -> Any:
    """One demo run, every output written (the CSV included), with a progress bar."""
    from rahat.engine.pipeline import run_scenario
    from rahat.engine.targeting.outputs import ALL_FORMATS

    with progress_bar() as progress:
        return run_scenario(
            scenario,
            registry=loaded,
            out_dir=folder,
            progress=progress,
            cache=cache,
            formats=ALL_FORMATS,
        )


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the outputs.")] = Path("rahat-out"),
    households: Annotated[
        int, typer.Option(min=1000, help="Households in the demo population.")
    ] = DEMO_HOUSEHOLDS,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run Rahat end to end on the bundled data and a demo registry.

    Builds (once) a census-calibrated demo registry, runs the 2022 flood relief as BISP did it
    (notified districts, bottom 40% per tehsil) and the same money targeted by the flood
    footprint, writes both caseloads into OUT and compares them, then measures both against
    the synthetic truth (every exposed poor household of the population, registered or not)
    into OUT/truth_comparison.csv.
    """
    from rahat.api.cli.registry import print_summary
    from rahat.api.cli.targeting import print_run, run_payload
    from rahat.engine.targeting import compare_caseloads
    from rahat.geo.files import atomic_write
    from rahat.geo.registry.summary import describe

    with user_errors():
        check_output_folder(out)
        registry_path, registry, runs = run_demo(out, households)
        summary = describe(registry)
        comparison = compare_caseloads(runs[0][2].caseload, runs[1][2].caseload)
        truth, table, layer = demo_truth(registry_path, runs)
        table_path = atomic_write(out / TRUTH_FILE, lambda t: table.to_csv(t, index=False))
        gap, gap_paths = demo_gap(registry_path, registry, layer, out)
    if as_json:
        print_json(
            {
                "registry": str(registry_path),
                "registry_summary": summary,
                "runs": [run_payload(name, result) for name, _, result in runs],
                "comparison": comparison.totals,
                "truth": {
                    "definition": truth.definition,
                    "households": len(truth),
                    "registered": int(truth.registered.sum()),
                    "file": str(table_path),
                    "rows": table.to_dict(orient="records"),
                },
                "gap": gap_payload(gap.table, gap_paths),
            }
        )
        return
    console.print(f"[bold]1. Demo registry[/] ({esc(registry_path)})")
    print_summary(summary, title="Registered households by province")
    for step, (name, folder, result) in enumerate(runs, start=2):
        console.print(f"\n[bold]{step}. Scenario {esc(name)}[/]")
        print_run(name, result, folder, levels=("province",))
    t = comparison.totals
    console.print(f"\n[bold]{len(runs) + 2}. {esc(runs[0][0])} vs {esc(runs[1][0])}[/]")
    console.print(
        f"targeting by the footprint adds {t['added']:,} households, drops {t['dropped']:,} "
        f"and keeps {t['kept']:,}; cost Rs {t['a_amount']:,} -> Rs {t['b_amount']:,}",
        highlight=False,
    )
    console.print(
        f"\n[bold]{len(runs) + 3}. Against the truth, at equal budget and at equal spend[/]"
    )
    print_truth(truth, table)
    console.print(f"table in {esc(table_path)}", highlight=False)
    console.print(f"\n[bold]{len(runs) + 4}. Whom the registry misses[/] (survey estimates)")
    print_gap(gap)
    console.print(f"table in {esc(gap_paths['gap'])}", highlight=False)


def print_truth(truth: Truth, table: pd.DataFrame) -> None:
    """Print the truth comparison table (one row per rule)."""
    from rich.table import Table

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.1%}"

    def num(v: float | None) -> str:
        return "-" if v is None else f"{v:,.1f}"

    console.print(
        f"truly exposed poor: {len(truth):,} {truth.definition}; "
        f"{int(truth.registered.sum()):,} of them registered",
        highlight=False,
    )
    grid = Table()
    for header in (
        "rule",
        "spent (Rs m)",
        "households",
        "exposed poor reached",
        "inclusion error",
        "exclusion error",
        "people / Rs m",
        "exposed-poor people / Rs m",
    ):
        grid.add_column(header, justify="left" if header == "rule" else "right")
    for row in table.to_dict(orient="records"):
        grid.add_row(
            esc(row["scenario"]),
            f"{row['amount'] / 1e6:,.1f}",
            f"{row['selected']:,}",
            pct(row["truth_reached_share"]),
            pct(row["inclusion_error"]),
            pct(row["exclusion_error"]),
            num(row["people_per_million"]),
            num(row["truth_people_per_million"]),
        )
    console.print(grid)


def _national(table: pd.DataFrame, level: str) -> int | None:
    """The unregistered bottom-40% households of ``level``'s rows summed (``None``: no rows)."""
    rows = table[table["level"] == level]
    return None if rows.empty else round(float(rows["unregistered_b40_est"].sum()))


def gap_payload(table: pd.DataFrame, paths: dict[str, Path]) -> dict[str, Any]:
    """What ``rahat demo --json`` says of the gap estimate."""
    return {
        "file": str(paths["gap"]),
        "units": len(table),
        "methods": {str(k): int(v) for k, v in table["method"].value_counts().items()},
        "unregistered_b40_est": _national(table, "province"),
        "unregistered_b40_in_footprint": _national(table, "province_footprint"),
    }


def gap_districts(result: GapResult, top: int = GAP_TOP) -> pd.DataFrame:
    """The ``top`` districts with the most unregistered poor in the footprint (else in all).

    One row per district: its whole-district figures and, as ``*_footprint``, the footprint's
    (matched by name and P-code).
    """
    figures = ["unregistered_b40_est", "unregistered_b40_lo90", "unregistered_b40_hi90"]
    table = result.table
    key = table["unit"].astype(str) + "|" + table["pcode"].fillna("").astype(str)
    whole = table[table["level"] == "district"].set_index(key[table["level"] == "district"])
    inside = table["level"] == "district_footprint"
    cut = table[inside].set_index(key[inside])[figures].add_suffix("_footprint")
    joined = whole.join(cut)
    order = "unregistered_b40_est_footprint" if not cut.empty else "unregistered_b40_est"
    return joined.sort_values(order, ascending=False, kind="stable").head(top)


def print_gap(result: GapResult) -> None:
    """Print the national gap, in the footprint, and the districts that miss the most poor."""
    import math

    from rich.table import Table

    def households(est: float, lo: float, hi: float) -> str:
        if any(math.isnan(v) for v in (est, lo, hi)):
            return "-"
        return f"{max(round(est), 0):,} ({round(lo):,}-{round(hi):,})"

    table = result.table
    national, inside = _national(table, "province"), _national(table, "province_footprint")
    line = f"about {national:,} bottom-40% households are not in the registry (provinces' sum)"
    if inside is not None:
        line += f", {inside:,} of them in the flood footprint"
    console.print(line + " (estimates, 90% intervals in brackets)", highlight=False)
    grid = Table()
    for header in ("district", "households", "coverage", "unregistered poor", "in the footprint"):
        grid.add_column(header, justify="left" if header == "district" else "right")
    for row in gap_districts(result).to_dict(orient="records"):
        grid.add_row(
            esc(row["unit"]),
            f"{round(row['households_est']):,}",
            f"{row['coverage']:.1%}",
            households(
                row["unregistered_b40_est"],
                row["unregistered_b40_lo90"],
                row["unregistered_b40_hi90"],
            ),
            households(
                row.get("unregistered_b40_est_footprint", math.nan),
                row.get("unregistered_b40_lo90_footprint", math.nan),
                row.get("unregistered_b40_hi90_footprint", math.nan),
            ),
        )
    console.print(grid)
