"""``rahat bench``: on-demand benchmarks that print measured figures (never run by the tests)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from rahat.api.cli._common import console, esc, print_json, user_errors

app = typer.Typer(
    help="Benchmarks: time and memory of the overlay, policy, registry, hazard reader and API.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _show(title: str, figures: dict, as_json: bool) -> None:
    if as_json:
        print_json(figures)
        return
    from rich.table import Table

    table = Table("measure", "value", title=title)
    for key, value in figures.items():
        shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
        table.add_row(esc(key), esc(shown))
    console.print(table)


@app.command("overlay")
def overlay_bench(
    households: Annotated[int, typer.Option(min=1, help="Households.")] = 1_000_000,
    naive: Annotated[bool, typer.Option(help="Also time the naive sjoin-first pipeline.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Rahat's overlay vs geopandas + rasterio on a national synthetic data set."""
    from dataclasses import asdict

    from rahat.benchmarks.overlay import run_overlay_bench

    result = run_overlay_bench(households, naive=naive)
    _show(f"overlay, {households:,} households", asdict(result), as_json)


@app.command("e2e")
def e2e_bench(
    households: Annotated[int, typer.Option(min=1000, help="Households.")] = 1_000_000,
    as_json: JsonFlag = False,
) -> None:
    """The whole `rahat run` command, cold and warm, vs the analyst's geopandas pipeline.

    A raster and a complex invalid vector footprint scenario on a national registry of
    HOUSEHOLDS (built once into the cache folder), seconds by phase, with an identity check
    of the selected households.
    """
    from rahat.benchmarks.e2e import as_dict, run_e2e_bench

    figures = as_dict(run_e2e_bench(households))
    if as_json:
        print_json(figures)
        return
    for kind in ("raster", "vector"):
        flat = {k: v for k, v in figures[kind].items() if not isinstance(v, dict)}
        for part in ("phases_cold", "phases_warm", "reference_phases"):
            flat.update({f"{part}.{k}": v for k, v in figures[kind][part].items()})
        _show(f"e2e {kind}, {households:,} households", flat, as_json=False)
    _show("e2e", {"peak_rss_mb": figures["peak_rss_mb"], "identical": figures["identical"]}, False)


@app.command("cold-start")
def cold_start_bench(as_json: JsonFlag = False) -> None:
    """First overlay in a fresh process with an empty numba cache, then with a warm one."""
    from rahat.benchmarks.coldstart import run_cold_start_bench

    _show("cold start", run_cold_start_bench(), as_json)


@app.command("synth")
def synth_bench(
    households: Annotated[int, typer.Option(min=1, help="Households.")] = 1_000_000,
    as_json: JsonFlag = False,
) -> None:
    """Time and peak memory of building and writing the demo registry."""
    import tempfile
    import time

    from rahat.benchmarks.common import peak_rss_mb
    from rahat.geo.registry.synth import write_demo

    with tempfile.TemporaryDirectory(prefix="rahat-synth-") as out:
        started = time.perf_counter()
        write_demo(households, 1, out)
        seconds = time.perf_counter() - started
    _show(
        "demo registry",
        {"households": households, "seconds": round(seconds, 2), "peak_rss_mb": peak_rss_mb()},
        as_json,
    )


@app.command("policy")
def policy_bench(
    households: Annotated[int, typer.Option(min=1, help="Households.")] = 1_000_000,
    as_json: JsonFlag = False,
) -> None:
    """Seconds to evaluate one more scenario on a cached exposure."""
    from rahat.benchmarks.policy import bench_policy

    _show(f"policy, {households:,} households", bench_policy(households), as_json)


@app.command("gap")
def gap_bench(
    households: Annotated[int, typer.Option(min=1000, help="Households.")] = 1_000_000,
    survey_households: Annotated[
        int | None, typer.Option(min=16, help="Surveyed households (default: by size).")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of population, survey, bootstrap.")] = 1,
    outreach_sites: Annotated[
        int, typer.Option(min=1, max=500, help="Outreach sites planned toward the demo flood.")
    ] = 25,
    as_json: JsonFlag = False,
) -> None:
    """Coverage-gap estimates vs the synthetic population's truth: accuracy, time, memory."""
    from rahat.benchmarks.gap import run_gap_bench

    figures = run_gap_bench(households, survey_households, seed, outreach_sites=outreach_sites)
    if as_json:
        print_json(figures)
        return
    flat = {k: v for k, v in figures.items() if not isinstance(v, dict | list)}
    for part in ("methods", "met"):
        flat.update({f"{part}.{k}": v for k, v in figures[part].items()})
    _show(f"gap, {households:,} households", flat, as_json=False)


@app.command("page")
def page_bench(
    households: Annotated[int, typer.Option(min=1000, help="Households.")] = 1_000_000,
    moves: Annotated[int, typer.Option(min=1, max=200, help="PMT slider moves timed.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """What-if round trip in a real browser: PMT slider moves on the page, timed to the screen."""
    from rahat.benchmarks.page import run_page_bench

    figures = run_page_bench(households, moves)
    if as_json:
        print_json(figures)
        return
    flat = {k: v for k, v in figures.items() if not isinstance(v, dict)}
    for part in ("round_trip_s", "page_s", "static_bytes"):
        flat.update({f"{part}.{k}": v for k, v in figures[part].items()})
    _show(f"page, {households:,} households", flat, as_json=False)


@app.command("hazard-inspect")
def hazard_inspect_bench(as_json: JsonFlag = False) -> None:
    """'rahat hazard inspect' on a 7000 x 5500 float32 GeoTIFF: seconds and peak memory."""
    from rahat.benchmarks.hazards import bench_inspect

    _show("hazard inspect", json.loads(json.dumps(bench_inspect(), default=str)), as_json)


@app.command("api")
def api_bench(as_json: JsonFlag = False) -> None:
    """API latency under 50 concurrent clients and CSV export throughput."""
    from rahat.benchmarks.api import bench_api

    _show("api", bench_api(), as_json)


@app.command("trigger")
def trigger_bench(
    areas: Annotated[int, typer.Option(min=2, max=5000, help="Tehsil-sized areas.")] = 577,
    members: Annotated[int, typer.Option(min=2, max=200, help="Ensemble members.")] = 51,
    days: Annotated[int, typer.Option(min=7, max=60, help="Daily forecast steps.")] = 15,
    resolution: Annotated[
        float, typer.Option(min=0.01, max=1.0, help="Grid cell size, degrees.")
    ] = 0.05,
    households: Annotated[
        int | None, typer.Option(min=1000, help="Also time activation to caseload.")
    ] = None,
    repeat: Annotated[int, typer.Option(min=1, max=50, help="Warm repetitions (median).")] = 5,
    as_json: JsonFlag = False,
) -> None:
    """A trigger over a national ensemble forecast: evaluation time, phases, fired areas."""
    from rahat.benchmarks.trigger import run_trigger_bench

    figures = run_trigger_bench(
        areas, members, days, resolution, households=households, repeat=repeat
    )
    if as_json:
        print_json(figures)
        return
    flat = {k: v for k, v in figures.items() if not isinstance(v, dict | list)}
    for part in ("evaluate_s", "phases", "fired", "caseload_phases", "fired_sindh"):
        for key, value in figures.get(part, {}).items():
            flat[f"{part}.{key}"] = value if not isinstance(value, dict) else json.dumps(value)
    _show(f"trigger, {areas} areas x {members} members", flat, as_json=False)


@app.command("claims")
def claims_bench(
    claims: Annotated[int, typer.Option(min=100, help="Claims in the stream.")] = 1_000_000,
    households: Annotated[int, typer.Option(min=1000, help="Registry households.")] = 1_000_000,
    as_json: JsonFlag = False,
) -> None:
    """A claims stream checked against a registry and a run: time, memory, precision/recall."""
    from rahat.benchmarks.claims import run_claims_bench

    figures = run_claims_bench(claims, households)
    flat = {k: v for k, v in figures.items() if k != "reasons"}
    for code, found in figures["reasons"].items():
        flat[code] = json.dumps(found)
    _show(f"claims, {claims:,} x {households:,} households", figures if as_json else flat, as_json)


@app.command("dask")
def dask_bench(
    households: Annotated[int, typer.Option(min=1000, help="Registry households.")] = 1_000_000,
    workers: Annotated[
        str, typer.Option(help="Worker processes of each LocalCluster, comma-separated.")
    ] = "1,2",
    as_json: JsonFlag = False,
) -> None:
    """One machine against Dask LocalClusters: seconds, identity, peak memory per worker."""
    from rahat.benchmarks.cluster import run_dask_bench
    from rahat.geo.errors import InputError

    with user_errors():
        try:
            counts = [int(w) for w in workers.split(",") if w.strip()]
        except ValueError:
            raise InputError("--workers: worker counts such as 1,2") from None
        if not counts or min(counts) < 1:
            raise InputError("--workers: worker counts such as 1,2")
        figures = run_dask_bench(households, counts)
    flat = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in figures.items()}
    _show(f"dask, {households:,} households", figures if as_json else flat, as_json)
