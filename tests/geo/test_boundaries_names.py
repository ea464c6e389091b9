"""The attribute-only admin unit names equal the names of the repaired boundary layers."""

from __future__ import annotations

from rahat.geo import boundaries


def test_admin_unit_names_equal_the_boundary_layers() -> None:
    districts = boundaries.districts()
    tehsils = boundaries.sindh_tehsils()
    expected = {
        "province": set(boundaries.provinces()["province"]),
        "district": set(districts["district"])
        | set(districts["district_pcode"].dropna())
        | set(tehsils["cod_district"]),
        "tehsil": set(tehsils["tehsil"])
        | set(tehsils["tehsil_pcode"])
        | set(boundaries.tehsil_names()["tehsil"].dropna()),
    }
    names = boundaries.admin_unit_names()
    assert {level: set(values) for level, values in names.items()} == expected
    assert len(names["province"]) == 7
    assert {"Dadu", "PK703", "Central Karachi"} <= names["district"]  # name, P-code, COD name


def test_stored_districts_equal_the_built_layer(tmp_path, monkeypatch) -> None:
    import geopandas.testing

    monkeypatch.setenv("RAHAT_CACHE_DIR", str(tmp_path))
    built = boundaries._build_districts()
    boundaries._districts.cache_clear()
    try:
        first = boundaries._districts()  # builds and stores
        stored = list((tmp_path / "reference").glob("districts-*.parquet"))
        assert len(stored) == 1
        boundaries._districts.cache_clear()
        again = boundaries._districts()  # read back from the store
        stored[0].write_bytes(b"PAR1 truncated")
        boundaries._districts.cache_clear()
        rebuilt = boundaries._districts()  # a damaged file is rebuilt, never used
    finally:
        boundaries._districts.cache_clear()
    for frame in (first, again, rebuilt):
        geopandas.testing.assert_geodataframe_equal(frame, built, check_less_precise=False)
    assert stored[0].read_bytes()[:4] == b"PAR1" and stored[0].stat().st_size > 1000
