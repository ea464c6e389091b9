"""Sums by admin unit with bin counts equal pandas' groupby, missing keys and big sums included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rahat.engine.targeting import unit_sums as module
from rahat.engine.targeting.unit_sums import unit_sums


def _reference(keys: dict, values: dict, first: dict) -> pd.DataFrame:
    frame = pd.DataFrame({**keys, **values})
    g = frame.groupby(list(keys), observed=True, sort=False, dropna=False)[list(values)].sum()
    g = g.reset_index()
    for k in keys:
        g[k] = g[k].astype(object).where(g[k].notna(), None)
    for name, column in first.items():
        codes = (
            pd.DataFrame(keys)
            .assign(**{name: column.astype(object)})
            .dropna(subset=[name])
            .drop_duplicates(subset=list(keys))
        )
        for k in keys:
            codes[k] = codes[k].astype(object)
        g = g.merge(codes, on=list(keys), how="left")
        g[name] = g[name].astype(object).where(g[name].notna(), None)
    return g.sort_values(list(keys), na_position="last", ignore_index=True)


@pytest.mark.parametrize("max_bins", [module.MAX_BINS, 3])  # counted directly; numbered first
def test_sums_equal_the_groupby(monkeypatch, max_bins: int) -> None:
    monkeypatch.setattr(module, "MAX_BINS", max_bins)
    rng = np.random.default_rng(4)
    n = 5_000
    province = rng.choice(["Sindh", "Punjab", None], n, p=[0.5, 0.45, 0.05])
    district = rng.choice(["A", "B", "C", None], n, p=[0.3, 0.3, 0.3, 0.1])
    keys = {
        "province": pd.Series(pd.Categorical(province, categories=["Punjab", "Sindh", "KP"])),
        "district": pd.Series(pd.Categorical(district)),
    }
    pcode = pd.Series(pd.Categorical(rng.choice(["PK1", "PK2", None], n)))
    values = {
        "households": rng.random(n) < 0.3,
        "amount": rng.integers(0, 10**9, n) * (rng.random(n) < 0.5),
        "huge": np.where(rng.random(n) < 0.01, 2**62 // n, 0).astype(np.int64),  # past 2**53
    }
    got = unit_sums(keys, values, {"pcode": pcode})
    got = got.sort_values(list(keys), na_position="last", ignore_index=True)
    expected = _reference(
        keys, {k: np.asarray(v, dtype=np.int64) for k, v in values.items()}, {"pcode": pcode}
    )
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert got["huge"].sum() == values["huge"].sum()
    assert "KP" not in set(got["province"])  # an unobserved category is no group
    assert got["province"].isna().any()  # a missing key is a group of its own
