"""What-if without I/O: the variant is the modified scenario's run, on one overlay, no files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from rahat.engine.pipeline import ExposureCache, load_hazards, load_registry
from rahat.engine.targeting import evaluate, load_scenario
from rahat.engine.whatif import parse_override, variant_of, whatif
from rahat.geo.errors import ScenarioError

BASE: dict[str, Any] = {
    "name": "whatif_engine",
    "seed": 5,
    "hazards": [{"name": "depth", "path": "demo:flood_depth_sindh_2022", "kind": "flood_depth"}],
    "eligibility": {"pmt_cutoff": 30, "hazard": [{"layer": "depth", "min_intensity": 0.3}]},
    "benefit": {"kind": "fixed", "amount": 25000},
    "budget": {"total": 2_000_000},
    "quotas": {"level": "district", "mode": "proportional"},
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from rahat.geo.registry.synth import write_demo

    _, path = write_demo(2000, 7, tmp_path_factory.mktemp("registry"))
    return load_registry(path)


@pytest.fixture(scope="module")
def cache() -> ExposureCache:
    return ExposureCache()


def files_under(*folders: Path) -> set[tuple[str, int]]:
    out = set()
    for folder in folders:
        for root, _, names in os.walk(folder):
            for name in names:
                path = Path(root) / name
                out.add((str(path), path.stat().st_mtime_ns))
    return out


@pytest.mark.parametrize(
    "overrides",
    [
        {"pmt_cutoff": "38"},
        {"budget.total": "5e6", "depth": 0.5},
        {"eligibility.pmt_cutoff": 45, "total": "null", "max_households": "20", "seed": "9"},
    ],
    ids=["alias-text", "dotted-and-layer", "dotted-null"],
)
def test_variant_equals_a_run_of_the_modified_scenario(
    registry: Any,
    cache: ExposureCache,
    overrides: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = load_scenario(BASE)
    monkeypatch.chdir(tmp_path)
    before = files_under(tmp_path, Path(str(registry.registry.source)).parent)
    result = whatif(base, overrides, registry, cache)
    assert files_under(tmp_path, Path(str(registry.registry.source)).parent) == before

    variant = variant_of(base, overrides)[0]
    hazards = load_hazards(variant, registry_extent=registry.registry.bounds())
    alone = evaluate(variant, cache.exposure(registry.registry, hazards, variant))
    assert result.variant.totals == alone.totals
    pd.testing.assert_frame_equal(result.variant.summary(), alone.summary())
    reference = evaluate(base, cache.exposure(registry.registry, hazards, base))
    assert result.base.totals == reference.totals
    t = result.comparison.totals
    assert (t["a_selected"], t["b_selected"]) == (
        reference.totals["selected"],
        alone.totals["selected"],
    )
    assert t["kept"] + t["added"] == alone.totals["selected"]
    assert t["amount_change"] == alone.totals["amount"] - reference.totals["amount"]
    side = result.summary()
    assert {"base_households", "variant_households"} <= set(side.columns)


def test_overlay_is_computed_once_for_base_and_variant(
    registry: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rahat.engine.exposure_cache as pipeline

    calls = []
    real = pipeline.overlay

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "overlay", counted)
    cache = ExposureCache()
    first = whatif(load_scenario(BASE), {"pmt_cutoff": 40}, registry, cache)
    assert len(calls) == 1
    second = whatif(load_scenario(BASE), {"pmt_cutoff": 41, "amount": 30000}, registry, cache)
    assert len(calls) == 1  # a second what-if on the same inputs: no overlay at all
    assert first.base.totals == second.base.totals
    assert second.variant.totals["amount"] % 30000 == 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"bogus": 1}, "unknown"),
        ({"hazards.0.radius_m": 100}, "changes the overlay"),
        ({"zones.0.path": "x.gpkg"}, "changes the overlay"),
        ({"pmt_cutoff": "abc"}, "valid number"),
        ({"eligibility.hazard.3.min_intensity": 1}, "no such field"),
        ({"eligibility.pmt_cutoff.deeper": 1}, "no such field"),
        ({"eligibility.bogus": 1}, "bogus"),
        ({f"k{i}": 1 for i in range(21)}, "at most 20"),
    ],
)
def test_bad_overrides_are_scenario_errors(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        variant_of(load_scenario(BASE), overrides)


def test_a_total_replaces_a_borrowed_budget_and_set_parsing() -> None:
    borrowed = load_scenario({**BASE, "budget": {"same_as": "bisp_2022_as_done"}})
    variant, resolved = variant_of(borrowed, {"budget": "1_000_000"})
    assert resolved == {"budget.total": 1_000_000}
    assert (variant.budget.total, variant.budget.same_as) == (1_000_000, None)
    assert parse_override(" pmt_cutoff = 35") == ("pmt_cutoff", " 35")
    with pytest.raises(ScenarioError, match="KEY=VALUE"):
        parse_override("pmt_cutoff")
