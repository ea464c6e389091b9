"""``rahat bench trigger`` at a tiny size: its keys, and fired counts against a re-evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from rahat.api.cli import app

runner = CliRunner()

#: Keys the brief requires (issue 16, "Done when").
REQUIRED = {
    "areas",
    "members",
    "days",
    "resolution",
    "evaluate_s",
    "phases",
    "fired",
    "activation_to_caseload_s",
    "households",
    "peak_rss_mb",
}


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAHAT_CACHE_DIR", str(cache))
        result = runner.invoke(
            app,
            [
                *("bench", "trigger", "--areas", "40", "--members", "5"),
                *("--resolution", "0.25", "--repeat", "1", "--json"),
            ],
        )
    assert result.exit_code == 0, result.output
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def test_reports_every_key(figures: dict[str, Any]) -> None:
    missing = REQUIRED - set(figures)
    assert not missing, missing
    assert (figures["areas"], figures["members"], figures["days"]) == (40, 5, 15)
    assert set(figures["evaluate_s"]) == {"cold", "warm_median"}
    assert set(figures["fired"]) == {"readiness", "activation"}
    assert {"areas_s", "read_grid_s", "conditions_s"} <= set(figures["phases"])
    assert figures["grid"]["lon"] == 68 and figures["grid"]["lat"] == 54
    assert figures["households"] is None and figures["activation_to_caseload_s"] is None
    assert figures["peak_rss_mb"] > 0 and figures["evaluate_s"]["warm_median"] > 0


def _fired(stage: dict[str, Any], rain: np.ndarray, masks: list[np.ndarray], days: Any) -> int:
    """Areas where half the members' 3-day sums of the area mean reach the value in the lead."""
    condition = stage["when"]["any"][0]
    k = condition["reduce"]["accumulate_days"]
    first, last = condition["lead_days"]
    as_of = days["as_of"]
    window = (days["days"] >= as_of + first) & (days["days"] <= as_of + last)
    count = 0
    for mask in masks:
        mean = rain[:, :, mask].mean(axis=2)  # [member, day]
        total = np.full(mean.shape, np.nan)
        total[:, k - 1 :] = sum(mean[:, i : mean.shape[1] - k + 1 + i] for i in range(k))
        share = (total >= condition["above"]["value"]).mean(axis=0)
        count += bool((share[window] >= condition["probability"]).any())
    return count


def test_fired_counts_equal_an_independent_evaluation(figures: dict[str, Any]) -> None:
    import geopandas as gpd
    import shapely
    import xarray as xr

    inputs = figures["inputs"]
    with xr.open_dataset(inputs["forecast"]) as ds:
        rain = ds["rain"].transpose("member", "time", "lat", "lon").values.astype(np.float64)
        lon, lat = np.meshgrid(ds["lon"].values, ds["lat"].values)
        days = {
            "days": ds["time"].values.astype("datetime64[D]"),
            "as_of": np.datetime64(inputs["as_of"], "D"),
        }
    assert rain.shape == (5, 15, 54, 68)
    areas = gpd.read_file(inputs["areas"])
    assert len(areas) == 40 and areas["code"].is_unique
    masks = [shapely.contains_xy(polygon, lon, lat) for polygon in areas.geometry]
    assert all(mask.any() for mask in masks)
    stages = yaml.safe_load(Path(inputs["trigger"]).read_text())["stages"]
    want = {name: _fired(stage, rain, masks, days) for name, stage in stages.items()}
    assert figures["fired"] == want
    assert want["readiness"] != want["activation"]  # a swap of the stages would show
