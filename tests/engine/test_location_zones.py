"""Location uncertainty per scenario layer and per household, zones in the caseload and in rules,
recorded vs located admin units.

Issue items 21 (``radius_m``/``reducer`` only from Python), 22 (climate zones computed but not
usable; user livelihood zones) and 2 (part: a household located in another district than the
one recorded is kept and flagged; the scenario says which unit admin rules use).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import rasterio
import shapely
from engine_helpers import depth_raster_over

from rahat.benchmarks.policy import synthetic_registry
from rahat.engine.exposure import Exposure
from rahat.engine.pipeline import ExposureCache, layer_sampling, load_hazards, run_scenario
from rahat.engine.targeting import evaluate, load_scenario
from rahat.engine.targeting.caseload import CASELOAD_FIELDS
from rahat.engine.targeting.rules import at_least, evaluate_rules
from rahat.engine.targeting.scenario import Scenario
from rahat.geo.errors import ScenarioError
from rahat.geo.registry.model import Registry

RES = 1000.0  # metres per cell of the test raster (EPSG:32642)


def _brute_force(path: Path, registry: Registry, radius: np.ndarray, reducer: str) -> np.ndarray:
    """Max/mean of the cells whose centre lies within ``radius`` metres (or the cell the point
    lies in), no data skipped: a plain loop over every household and every cell."""
    from pyproj import Transformer

    with rasterio.open(path) as src:
        values = src.read(1).astype(np.float64)
        t = src.transform
    x, y = Transformer.from_crs(4326, 32642, always_xy=True).transform(registry.lon, registry.lat)
    rows, cols = np.indices(values.shape)
    xc = t.c + t.a * (cols + 0.5)
    yc = t.f + t.e * (rows + 0.5)
    valid = values != -9999.0
    out = np.full(len(x), np.nan)
    for i in range(len(x)):
        own = (cols == np.floor((x[i] - t.c) / t.a)) & (rows == np.floor((y[i] - t.f) / t.e))
        near = ((xc - x[i]) ** 2 + (yc - y[i]) ** 2 <= radius[i] ** 2) if radius[i] > 0 else own
        cells = values[(near | own) & valid]
        if cells.size:
            out[i] = cells.max() if reducer == "max" else cells.mean()
    return out


def _scenario(path: Path, **extra: object) -> Scenario:
    data: dict = {
        "name": "loc",
        "hazards": [{"name": "depth", "path": str(path), "kind": "flood_depth", **extra}],
        "eligibility": {"hazard": [{"layer": "depth", "min_intensity": 0.5}]},
        "benefit": {"kind": "fixed", "amount": 1000},
    }
    return load_scenario(data)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, Path]:
    registry = synthetic_registry(150, seed=3)
    path = depth_raster_over(
        tmp_path_factory.mktemp("raster") / "depth.tif",
        registry,
        "EPSG:32642",
        RES,
        margin=5,
        seed=11,
        no_data=(slice(None), slice(40, 43)),
    )
    return registry, path


# ------------------------------------------------------------------------- item 21: radius


def test_radius_and_reducer_are_scenario_fields_with_bounds(small) -> None:
    _, path = small
    s = _scenario(path, radius_m=750, reducer="mean")
    assert (s.hazards[0].radius_m, s.hazards[0].reducer) == (750, "mean")
    assert json.loads(s.canonical_json())["hazards"][0]["radius_m"] == 750
    assert _scenario(path).hazards[0].radius_m == 0  # default: the cell the household is in
    for bad, needle in [
        ({"radius_m": -1}, r"hazards\[0\]\.radius_m"),
        ({"radius_m": 50_001}, r"hazards\[0\]\.radius_m"),
        ({"reducer": "median"}, r"hazards\[0\]\.reducer"),
        ({"radius": 100}, r"did you mean 'radius_m'"),
    ]:
        with pytest.raises(ScenarioError, match=needle):
            _scenario(path, **bad)


@pytest.mark.parametrize("reducer", ["max", "mean"])
def test_layer_radius_reaches_the_overlay(small, reducer: str) -> None:
    registry, path = small
    s = _scenario(path, radius_m=2500, reducer=reducer)
    hazards = load_hazards(s, registry_extent=registry.bounds())
    cache = ExposureCache()
    got = cache.exposure(registry, hazards, s).hazards["depth"].intensity
    expected = _brute_force(path, registry, np.full(len(registry), 2500.0), reducer)
    np.testing.assert_allclose(got.astype(np.float64), expected, rtol=1e-6, equal_nan=True)
    at_cell = cache.exposure(registry, hazards, _scenario(path)).hazards["depth"].intensity
    assert not np.allclose(got, at_cell, equal_nan=True)  # the radius changed something


def _with_accuracy(registry: Registry, accuracy: np.ndarray) -> Registry:
    frame = registry.frame.assign(location_accuracy_m=accuracy.astype(np.float32))
    return Registry.from_frame(frame)


def test_household_gps_accuracy_widens_the_radius_per_household(small) -> None:
    registry, path = small
    rng = np.random.default_rng(5)
    accuracy = rng.choice([np.nan, 0.0, 300.0, 1800.0, 4000.0, 90_000.0], len(registry))
    reg = _with_accuracy(registry, accuracy)
    s = _scenario(path, radius_m=1200, reducer="mean")
    radius, reducer = layer_sampling(s, reg)["depth"]
    expected_radius = np.fmax(np.clip(np.nan_to_num(accuracy), 0, 50_000), 1200.0)
    np.testing.assert_array_equal(radius, expected_radius)
    assert reducer == "mean"
    hazards = load_hazards(s, registry_extent=reg.bounds())
    got = ExposureCache().exposure(reg, hazards, s).hazards["depth"].intensity
    expected = _brute_force(path, reg, expected_radius, "mean")
    np.testing.assert_allclose(got.astype(np.float64), expected, rtol=1e-6, equal_nan=True)
    # without per-household radii the wide-accuracy households would read the layer radius only
    layer_only = _brute_force(path, reg, np.full(len(reg), 1200.0), "mean")
    assert not np.allclose(got, layer_only, equal_nan=True)
    # a layer with radius 0 still looks as far as each household's accuracy
    s0 = _scenario(path)
    got0 = ExposureCache().exposure(reg, hazards, s0).hazards["depth"].intensity
    expected0 = _brute_force(path, reg, np.clip(np.nan_to_num(accuracy), 0, 50_000), "max")
    np.testing.assert_allclose(got0.astype(np.float64), expected0, rtol=1e-6, equal_nan=True)


def test_registry_accuracy_column_is_optional_and_checked() -> None:
    from rahat.geo.registry.validate import validate_table

    frame = synthetic_registry(4, seed=1).frame
    table = pa.Table.from_pandas(
        frame.astype({c: object for c in frame.columns}), preserve_index=False
    )
    table = table.append_column("last_updated", pa.array(["2022-01-01"] * 4))
    table = table.append_column("location_accuracy_m", pa.array(["", "12.5", "abc", "-1"]))
    report = validate_table(table, plausibility=False)
    assert report.n_valid == 2 and report.n_rejected == 2
    kept = report.registry.array("location_accuracy_m")
    assert np.isnan(kept).sum() == 1 and 12.5 in kept.tolist()
    assert "location_accuracy_m" not in report.ignored_columns


def test_api_inline_scenario_accepts_radius(tmp_path: Path) -> None:
    from rahat.api.service.scenarios import prepare_scenario
    from rahat.api.service.schemas import RunCreate
    from rahat.api.service.settings import Settings

    data = {
        "name": "api",
        "hazards": [
            {
                "name": "depth",
                "path": "demo:flood_depth_sindh_2022",
                "kind": "flood_depth",
                "radius_m": 500,
                "reducer": "mean",
            }
        ],
        "eligibility": {
            "hazard": [{"layer": "depth", "min_intensity": 0.3}],
            "zone": [{"layer": "climate", "in": ["BWh"]}],
        },
        "benefit": {"kind": "fixed", "amount": 1},
    }
    settings = Settings(state_dir=tmp_path, scenarios_dir=tmp_path)
    stored = prepare_scenario(settings, RunCreate(scenario=data), set())
    s = load_scenario(stored)
    assert (s.hazards[0].radius_m, s.hazards[0].reducer) == (500, "mean")
    assert s.eligibility.zone[0].in_ == ["BWh"]
    bad = copy.deepcopy(data)
    bad["hazards"][0]["radius_m"] = 1e6
    with pytest.raises(ScenarioError, match="radius_m"):
        prepare_scenario(settings, RunCreate(scenario=bad), set())


# ------------------------------------------------------------------------- item 22: zones


@pytest.fixture(scope="module")
def zoned(small) -> tuple[Scenario, Exposure]:
    registry, path = small
    s = _scenario(path)
    hazards = load_hazards(s, registry_extent=registry.bounds())
    return s, ExposureCache().exposure(registry, hazards, s)


def test_caseload_carries_climate_zone(zoned) -> None:
    s, exposure = zoned
    assert "climate_zone" in CASELOAD_FIELDS and "located_district" in CASELOAD_FIELDS
    frame = evaluate(s.with_updates({"eligibility.hazard.0.min_intensity": 0.0}), exposure).frame
    climate = exposure.zones["climate"].labels()
    row = {h: i for i, h in enumerate(exposure.registry.household_id)}
    expected = [climate[row[h]] for h in frame["household_id"]]
    got = frame["climate_zone"].astype(object).where(frame["climate_zone"].notna(), None)
    assert got.tolist() == expected
    assert {"BWh", "BSh"} <= set(frame["climate_zone"].dropna().astype(str))


def test_zone_rule_gates_eligibility(zoned) -> None:
    s, exposure = zoned
    climate = exposure.zones["climate"].labels()
    arid = np.isin(climate.astype(str), ["BSh", "BSk"])
    base = evaluate_rules(s, exposure).eligible
    gated_s = s.with_updates({"eligibility.zone": [{"layer": "climate", "in": ["BSh", "bsk"]}]})
    gated = evaluate_rules(gated_s, exposure)
    np.testing.assert_array_equal(gated.eligible, base & arid)
    assert (base & ~arid).any() and (base & arid).any()  # the rule changed the result
    assert any(r.label == "climate=BSh/bsk" for r in gated.rules)
    frame = evaluate(gated_s, exposure).frame
    failed = frame[~frame["eligible"] & frame["climate_zone"].astype(str).eq("BWh")]
    assert failed["reasons"].astype(str).str.contains(r"climate=BSh/bsk: fail \(BWh\)").any()


def test_hazard_rule_where_zone(zoned) -> None:
    """'Arid zones: a low threshold; elsewhere a high one' with hazard_combine any."""
    s, exposure = zoned
    depth = exposure.hazards["depth"].intensity
    arid = np.isin(exposure.zones["climate"].labels().astype(str), ["BSh", "BSk"])
    rules = [
        {"layer": "depth", "min_intensity": 2.5},
        {
            "layer": "depth",
            "min_intensity": 0.2,
            "where": {"layer": "climate", "in": ["BSh", "BSk"]},
        },
    ]
    got = evaluate_rules(s.with_updates({"eligibility.hazard": rules}), exposure)
    expected = at_least(depth, 2.5) | (at_least(depth, 0.2) & arid)
    np.testing.assert_array_equal(got.affected, expected)
    without_where = copy.deepcopy(rules)
    del without_where[1]["where"]
    loose = evaluate_rules(s.with_updates({"eligibility.hazard": without_where}), exposure)
    assert (loose.affected & ~got.affected).any()


def test_zone_rule_checks(small) -> None:
    _, path = small
    base = json.loads(_scenario(path).canonical_json())
    base["eligibility"]["zone"] = [{"layer": "climat", "in": ["BWh"]}]
    with pytest.raises(ScenarioError, match=r"zone\[0\]\.layer.*did you mean 'climate'"):
        load_scenario(base)
    base["eligibility"]["zone"] = [{"layer": "climate", "values": ["BWh"]}]
    with pytest.raises(ScenarioError, match=r"zone\[0\]\.in: required(?s:.*)valid here: layer, in"):
        load_scenario(base)
    base["eligibility"]["zone"] = [{"layer": "climate", "in": ["BWh"]}]
    s = load_scenario(base)
    assert load_scenario(json.loads(s.canonical_json())) == s  # round trip through JSON
    base["zones"] = [{"name": "climate", "path": "x.geojson", "field": "n"}]
    with pytest.raises(ScenarioError, match=r"zones\[0\]\.name"):
        load_scenario(base)


def test_user_livelihood_zones(small, tmp_path: Path) -> None:
    registry, path = small
    lon, lat = registry.lon, registry.lat
    mid = float(np.median(lon))
    box_w = shapely.box(float(lon.min()) - 1, float(lat.min()) - 1, mid, float(lat.max()) + 1)
    frame = gpd.GeoDataFrame({"LZ_NAME": ["Riverine"]}, geometry=[box_w], crs="EPSG:4326")
    zones = tmp_path / "lz.geojson"
    frame.to_file(zones, driver="GeoJSON")
    data = json.loads(_scenario(path).canonical_json())
    data["zones"] = [{"name": "livelihood", "path": str(zones), "field": "LZ_NAME"}]
    data["eligibility"]["hazard"][0]["min_intensity"] = 0.0
    s_all = load_scenario(data)
    data["eligibility"]["zone"] = [{"layer": "livelihood", "in": ["riverine"]}]
    s = load_scenario(data)
    hazards = load_hazards(s, registry_extent=registry.bounds())
    exposure = ExposureCache().exposure(registry, hazards, s)
    west = lon <= mid
    np.testing.assert_array_equal(exposure.zones["livelihood"].codes >= 0, west)
    eligible = evaluate_rules(s, exposure).eligible
    everyone = evaluate_rules(s_all, exposure).eligible
    np.testing.assert_array_equal(eligible, everyone & west)
    caseload = evaluate(s, exposure).frame
    ids = set(registry.household_id[west].tolist())
    inside = caseload["household_id"].isin(ids).to_numpy()
    assert (caseload.loc[inside, "livelihood_zone"].astype(str) == "Riverine").all()
    assert caseload.loc[~inside, "livelihood_zone"].isna().all()


# ------------------------------------------------------------------ item 2: recorded vs located

#: (recorded province, recorded district, lon, lat): the last is recorded in Dadu, lies in Lahore.
PLACES = [
    ("Sindh", "Dadu", 67.78, 26.73),
    ("Sindh", "Dadu", 67.70, 26.90),
    ("Sindh", "Larkana", 68.21, 27.56),
    ("Sindh", "Dadu", 74.34, 31.52),
]


@pytest.fixture(scope="module")
def misplaced() -> Registry:
    frame = synthetic_registry(len(PLACES), seed=2).frame.copy()
    frame["household_id"] = np.arange(1, len(PLACES) + 1, dtype=np.int64)
    frame["province"] = pd.Categorical([p[0] for p in PLACES])
    frame["district"] = pd.Categorical([p[1] for p in PLACES])
    frame["tehsil"] = pd.Categorical([None] * len(PLACES), categories=["x"])
    frame["district_pcode"] = pd.Categorical([None] * len(PLACES), categories=["x"])
    frame["tehsil_pcode"] = pd.Categorical([None] * len(PLACES), categories=["x"])
    frame["lon"] = [p[2] for p in PLACES]
    frame["lat"] = [p[3] for p in PLACES]
    frame["pmt_score"] = np.array([10, 20, 30, 5], dtype=np.float32)
    return Registry.from_frame(frame)


def _notified(units: list[str], mode: str | None = None, **extra: object) -> Scenario:
    data: dict = {
        "name": "bisp",
        "eligibility": {"notified": {"level": "district", "units": units}},
        "benefit": {"kind": "fixed", "amount": 100},
        **extra,
    }
    if mode is not None:
        data["admin_units"] = mode
    return load_scenario(data)


def test_recorded_or_located_units_for_admin_rules(misplaced: Registry, tmp_path: Path) -> None:
    cache = ExposureCache()
    exposure = cache.exposure(misplaced, [])
    located = exposure.zones["district"].labels()
    assert located[3] == "Lahore" and list(located[:3]) == ["Dadu", "Dadu", "Larkana"]

    def ids(scenario: Scenario) -> list[int]:
        rules = evaluate_rules(scenario, exposure)
        return exposure.registry.household_id[rules.eligible].tolist()

    assert _notified(["Dadu"]).admin_units == "recorded"
    assert sorted(ids(_notified(["Dadu"]))) == [1, 2, 4]  # as recorded (the default)
    assert sorted(ids(_notified(["Dadu"], "located"))) == [1, 2]
    assert ids(_notified(["Lahore"], "located")) == [4]
    assert ids(_notified(["Lahore"], "recorded")) == []

    # per-unit rules: bottom 33.3 % per district (pmt 10, 20, 30, 5), recorded or located
    area = {
        "area_relative": {"level": "district", "bottom_percent": 33.3},
        "notified": {"level": "district", "units": ["Dadu", "Larkana", "Lahore"]},
    }
    rec = _notified(["Dadu"], "recorded").with_updates({"eligibility": area})
    loc = _notified(["Dadu"], "located").with_updates({"eligibility": area})
    # recorded Dadu = {1, 2, 4}: ceil(0.999) = 1 passes, the poorest (4); Larkana {3}: 3
    assert sorted(ids(rec)) == [3, 4]
    # located Dadu = {1, 2}: 1 passes; Larkana {3}: 3; Lahore {4}: 4
    assert sorted(ids(loc)) == [1, 3, 4]
    area_loc = next(r for r in evaluate_rules(loc, exposure).rules if r.key == "area_relative")
    assert area_loc.label == "bottom33.3%/district@located"

    # quotas split by the located district; the household is kept and flagged either way
    quota = {"budget": {"max_households": 4}, "quotas": {"level": "district"}}
    for mode, expected in (
        ("recorded", {"Dadu", "Larkana"}),
        ("located", {"Dadu", "Larkana", "Lahore"}),
    ):
        scenario = _notified(["Dadu", "Larkana", "Lahore"], mode, **quota)
        caseload = evaluate(scenario, exposure)
        assert set(caseload.quotas["name"]) - {"(unknown)"} == expected
        frame = caseload.frame.set_index("household_id")
        assert frame.loc[4, "district"] == "Dadu" and frame.loc[4, "located_district"] == "Lahore"
    result = run_scenario(
        _notified(["Dadu", "Lahore"], "located"), registry=misplaced, out_dir=tmp_path
    )
    assert result.location_mismatches == 1
    assert result.caseload.frame.set_index("household_id").loc[4, "located_district"] == "Lahore"


# ------------------------------------------------------------------------- the CLI: the file


def test_cli_run_reads_radius_and_zone_rules_from_the_scenario_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml
    from typer.testing import CliRunner

    from rahat.api.cli import app
    from rahat.geo.registry.synth import write_demo

    monkeypatch.setenv("RAHAT_CACHE_DIR", str(tmp_path / "cache"))
    write_demo(800, 2022, tmp_path / "reg")
    registry = tmp_path / "reg" / "registry.parquet"
    frames = {}
    for radius in (0, 3000):
        data = {
            "name": f"r{radius}",
            "hazards": [
                {
                    "name": "depth",
                    "path": "demo:flood_depth_sindh_2022",
                    "kind": "flood_depth",
                    "radius_m": radius,
                    "reducer": "max",
                }
            ],
            "eligibility": {
                "hazard": [{"layer": "depth", "min_intensity": 0.1}],
                "zone": [{"layer": "climate", "in": ["BWh"]}],
            },
            "benefit": {"kind": "fixed", "amount": 10},
        }
        path = tmp_path / f"r{radius}.yaml"
        path.write_text(yaml.safe_dump(data))
        out = tmp_path / f"out{radius}"
        result = CliRunner().invoke(
            app, ["run", str(path), "--registry", str(registry), "--out", str(out), "--json"]
        )
        assert result.exit_code == 0, result.output
        frames[radius] = pd.read_parquet(out / "caseload.parquet").set_index("household_id")
    at_cell, wide = frames[0], frames[3000]
    common = at_cell.index.intersection(wide.index)
    a = at_cell.loc[common, "depth_intensity"].fillna(-1).to_numpy()
    b = wide.loc[common, "depth_intensity"].fillna(-1).to_numpy()
    assert np.all(b >= a) and np.any(b > a)  # max within 3 km is at least the cell's value
    for frame in frames.values():
        eligible = frame[frame["eligible"]]
        assert len(eligible) and (eligible["climate_zone"].astype(str) == "BWh").all()
