"""The 2022 trigger backtest data: the builder on tiny fake inputs, and the committed files."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401  (the .rio accessor)
import xarray as xr
from shapely.geometry import box

from rahat.benchmarks.trigger_data import (
    CHIRPS_FILE,
    FLOOD_FILE,
    FLOODED_CSV,
    RAIN_CSV,
    build_trigger_data,
    main,
)
from rahat.geo.boundaries import sindh_tehsils
from rahat.geo.paths import reference_data_dir, repo_root

TRIGGERS = reference_data_dir() / "triggers"
SHARED = repo_root().parent / "shared" / "data" / "real"
#: The rainfall frame as NetCDF, bundled only if the lead keeps it (1.1 MB).
NETCDF = "sindh_chirps_rain_2022.nc"


@pytest.fixture
def fake_shared(tmp_path: Path) -> Path:
    """A 4 x 4 frame of 0.05° cells over [0, 0.2]², 2 days: day d holds 100·d + 4·row + col."""
    shared = tmp_path / "shared"
    (shared / CHIRPS_FILE).parent.mkdir(parents=True)
    (shared / FLOOD_FILE).parent.mkdir(parents=True)
    cells = np.arange(16, dtype=np.float32).reshape(4, 4)
    np.savez(
        shared / CHIRPS_FILE,
        dates=np.array(["2022-06-01", "2022-06-02"]),
        rain=np.stack([cells, cells + 100]),
        bounds=np.array([0.0, 0.0, 0.2, 0.2]),
    )
    pd.DataFrame(
        {
            "Tehsil Name": ["Tehsil A", "B", "Tehsil A"],
            "District Name": ["Dist One", "Dist One", "Dist Two"],
            "Flood Area (% of tehsil)": [12.5, 50.0, 3.0],
        }
    ).to_csv(shared / FLOOD_FILE, index=False)
    return shared


def fake_tehsils() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "tehsil": ["tehsil-a", "B", "Far", "Edge"],
            "tehsil_pcode": ["PK1", "PK2", "PK3", "PK4"],
            "cod_district": ["dist  one", "Dist One", "Dist One", "Dist One"],
        },
        geometry=[
            # north-west 2 x 2 cells (rows 0-1, cols 0-1): values 0, 1, 4, 5
            box(0.0, 0.1, 0.1, 0.2),
            # a sliver in the south row below the centres: overlaps cells (3, 2) and (3, 3),
            # meets cell (3, 1) only along its edge x = 0.1 (not counted)
            box(0.1, 0.01, 0.17, 0.02),
            # outside the frame
            box(1.0, 1.0, 1.1, 1.1),
            # half west of the frame; holds the centre of cell (0, 0) only
            box(-0.05, 0.15, 0.05, 0.2),
        ],
        crs="EPSG:4326",
    )


def test_builder_means_on_a_fake_frame(fake_shared: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    netcdf = tmp_path / "nc" / "rain.nc"
    result = build_trigger_data(fake_shared, out, tehsils=fake_tehsils(), netcdf=netcdf)

    rain = pd.read_csv(out / RAIN_CSV, dtype={"pcode": str, "date": str})
    assert rain.columns.tolist() == ["pcode", "date", "rain_mm"]
    means = rain.set_index(["pcode", "date"])["rain_mm"]
    assert means["PK1", "2022-06-01"] == 2.5  # (0 + 1 + 4 + 5) / 4
    assert means["PK1", "2022-06-02"] == 102.5
    assert means["PK2", "2022-06-01"] == 14.5  # touched cells 14 and 15
    assert means["PK4", "2022-06-02"] == 100.0  # cell (0, 0)
    assert "PK3" not in set(rain["pcode"])
    assert result.touched == ["PK2"]
    assert result.uncovered == ["PK3 Far (Dist One)"]
    assert result.partial == ["PK4 Edge (Dist One): 50.0% inside"]

    flooded = pd.read_csv(out / FLOODED_CSV, dtype={"pcode": str})
    # names match within district after normalisation; "Tehsil A" of Dist Two matches nothing
    assert flooded.to_dict("list") == {"pcode": ["PK1", "PK2"], "flood_share": [0.125, 0.5]}
    assert result.unmatched_flood == ["Dist Two / Tehsil A"]
    assert result.tehsils_without_flood == ["PK3 Far (Dist One)", "PK4 Edge (Dist One)"]
    summary = result.summary()
    for line in ("PK3 Far (Dist One)", "Dist Two / Tehsil A", "by touched cells: PK2"):
        assert line in summary

    with xr.open_dataset(netcdf, decode_coords="all") as ds:
        assert ds["rain"].dims == ("time", "lat", "lon")
        assert ds["rain"].dtype == np.float32
        assert ds["rain"].attrs["units"] == "mm/day"
        assert ds["rain"].rio.crs.to_epsg() == 4326
        assert ds["lat"].values.tolist() == pytest.approx([0.175, 0.125, 0.075, 0.025])
        assert ds["lon"].values.tolist() == pytest.approx([0.025, 0.075, 0.125, 0.175])
        assert ds["rain"].values[1, 3, 2] == 114.0
        assert str(ds["time"].values[0])[:10] == "2022-06-01"
        assert ds["rain"].encoding["zlib"]


def test_duplicate_names_are_refused(fake_shared: Path, tmp_path: Path) -> None:
    tehsils = fake_tehsils()
    tehsils.loc[1, "tehsil"] = "Tehsil A"
    with pytest.raises(ValueError, match="repeat"):
        build_trigger_data(fake_shared, tmp_path / "out", tehsils=tehsils)


@pytest.fixture(scope="module")
def committed_rain() -> pd.DataFrame:
    return pd.read_csv(TRIGGERS / RAIN_CSV, dtype={"pcode": str, "date": str})


def test_committed_rain(committed_rain: pd.DataFrame) -> None:
    assert committed_rain.columns.tolist() == ["pcode", "date", "rain_mm"]
    assert not committed_rain.isna().any().any()
    dates = pd.date_range("2022-06-01", "2022-09-30").strftime("%Y-%m-%d").tolist()
    for _, days in committed_rain.groupby("pcode"):
        assert days["date"].tolist() == dates
    assert committed_rain["pcode"].nunique() == 58
    assert set(committed_rain["pcode"]) <= set(sindh_tehsils()["tehsil_pcode"])
    assert committed_rain["rain_mm"].between(0, 500).all()


def test_committed_flooded_share() -> None:
    flooded = pd.read_csv(TRIGGERS / FLOODED_CSV, dtype={"pcode": str})
    assert flooded.columns.tolist() == ["pcode", "flood_share"]
    assert not flooded.isna().any().any()
    assert flooded["pcode"].is_unique
    assert set(flooded["pcode"]) == set(sindh_tehsils()["tehsil_pcode"])
    assert flooded["flood_share"].between(0, 1).all()
    # Badin, Badin: "Flood Area (% of tehsil)" 20.72
    assert flooded.set_index("pcode").loc["PK70101", "flood_share"] == 0.2072


@pytest.mark.skipif(not (SHARED / CHIRPS_FILE).exists(), reason="shared data collection absent")
def test_committed_files_rebuild_byte_for_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    netcdf = TRIGGERS / NETCDF
    main([str(SHARED), str(tmp_path), "--netcdf", str(tmp_path / NETCDF)])
    names = [RAIN_CSV, FLOODED_CSV] + ([NETCDF] if netcdf.exists() else [])
    for name in names:
        assert (tmp_path / name).read_bytes() == (TRIGGERS / name).read_bytes(), name
    assert "tehsils outside the CHIRPS frame (no rain rows): 67" in capsys.readouterr().out
