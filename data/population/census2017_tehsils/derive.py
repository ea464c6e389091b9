"""Derive ``tehsils_2017.csv`` from the 2017 census compilation in the shared data collection.

Run from the repository root: ``python data/population/census2017_tehsils/derive.py [SOURCE]``
(``SOURCE`` defaults to ``../shared/data/real/population/census2017_tehsils/
Pakistan_2017_Census_Final.csv``). The output is the same on every run.

The source (C. Cookman's compilation of the Pakistan Bureau of Statistics 2017 census results)
is GPL-3.0 as a repository, so it is not bundled: only the facts Rahat needs are kept, one row
per tehsil (``area_type`` ``TOTAL`` rows with a level-4 name, 536 of them):

- ``province``, ``district``, ``tehsil``: the names as PBS spells them (upper case; ``FATA`` and
  ``KP`` as in 2017), ``key`` their normalised tehsil name
  (:func:`rahat.geo.denominators.normalise_name`);
- ``population_2017`` and ``household_size_2017`` (``avg_hh_size``); the one tehsil without a
  household size (Sharingal, Upper Dir) takes its district's, marked in ``household_size_from``;
- ``growth_rate``: average annual growth 1998-2017 as a fraction (Islamabad's row gives it in
  percent, 4.90, and is divided by 100);
- ``households_2017``: ``population_2017 / household_size_2017`` rounded to whole households
  (the compilation has no household counts; the size is published to two decimals, so this is
  within about 0.1 % of the census count).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = (
    HERE.parents[2].parent
    / "shared/data/real/population/census2017_tehsils/Pakistan_2017_Census_Final.csv"
)
OUTPUT = HERE / "tehsils_2017.csv"


def derive(source: Path) -> pd.DataFrame:
    """Return the per-tehsil facts of the compilation at ``source`` (see the module docstring)."""
    from rahat.geo.denominators import normalise_name

    raw = pd.read_csv(source, keep_default_na=False, na_values=["NA"])
    total = raw[raw["area_type"] == "TOTAL"]
    district_size = (
        total[total["adm_lvl_4"].isna() & total["adm_lvl_3"].notna()]
        .set_index(["adm_lvl_1", "adm_lvl_3"])["avg_hh_size"]
        .to_dict()
    )
    rows = total[total["adm_lvl_4"].notna()].copy()
    # Islamabad has no district level: the territory is its own district and tehsil.
    rows["adm_lvl_3"] = rows["adm_lvl_3"].fillna(rows["adm_lvl_4"])
    size = rows["avg_hh_size"].copy()
    missing = size.isna()
    size[missing] = [
        district_size[(p, d)]
        for p, d in zip(rows.loc[missing, "adm_lvl_1"], rows.loc[missing, "adm_lvl_3"], strict=True)
    ]
    growth = rows["avg_annual_growth"].where(
        rows["avg_annual_growth"] < 1, rows["avg_annual_growth"] / 100
    )
    out = pd.DataFrame(
        {
            "province": rows["adm_lvl_1"].str.strip(),
            "district": rows["adm_lvl_3"].str.strip(),
            "tehsil": rows["adm_lvl_4"].str.strip(),
            "key": rows["adm_lvl_4"].map(normalise_name),
            "population_2017": rows["total_pop"].astype("int64"),
            "household_size_2017": size.round(2),
            "household_size_from": missing.map({True: "district", False: "tehsil"}),
            "growth_rate": growth.round(6),
            "households_2017": (rows["total_pop"] / size).round().astype("int64"),
        }
    )
    return out.sort_values(["province", "district", "tehsil"], ignore_index=True)


def main(argv: list[str]) -> None:
    """Write :data:`OUTPUT` from the source named in ``argv`` (or :data:`DEFAULT_SOURCE`)."""
    source = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    derive(source).to_csv(OUTPUT, index=False, lineterminator="\n")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main(sys.argv)
