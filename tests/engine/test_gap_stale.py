"""Stale registry records: not updated for more than N years at a given date."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from rahat.engine.gap.estimate import GapOptions, stale_records


def test_records_older_than_the_limit_are_stale_and_missing_dates_are_not() -> None:
    registry = pd.DataFrame(
        {
            "last_updated": pd.to_datetime(
                ["2011-03-01", "2017-06-30", "2017-07-02", None, "2022-07-01"]
            )
        }
    )
    at = stale_records(registry, GapOptions(stale_years=5, as_of=date(2022, 7, 1)))
    np.testing.assert_array_equal(at, [True, True, False, False, False])
    # by default the age runs to the registry's latest update (the same answer here)
    np.testing.assert_array_equal(stale_records(registry, GapOptions(stale_years=5)), at)
    assert not stale_records(pd.DataFrame({"x": [1, 2]}), GapOptions()).any()


def test_a_future_date_is_not_the_registrys_date() -> None:
    # one record dated 2099 (a typo) must not make every other record five years old
    dates = ["2011-03-01", "2017-06-30", "2017-07-02", "2022-07-01", "2099-01-01"]
    registry = pd.DataFrame({"last_updated": pd.to_datetime(dates)})
    stale = stale_records(registry, GapOptions(stale_years=5))
    np.testing.assert_array_equal(stale, [True, True, False, False, False])
