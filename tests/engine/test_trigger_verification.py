"""Trigger verification: contingency counts, scores with Wilson intervals, lead times.

Every expected number below is worked out by hand in the comments.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rahat.engine.triggers.verification import (
    OVERALL,
    contingency,
    lead_times,
    observed_within,
    onsets,
    scores,
    verification_table,
    wilson_interval,
)

# Area A: fired days 0, 1, 4; flooded days 1, 2. Area B: never fires, never floods.
FIRED = np.array([[1, 1, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0]], dtype=bool)
OBSERVED = np.array([[0, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0]], dtype=bool)


def test_same_day_contingency_by_hand() -> None:
    table = contingency(FIRED, OBSERVED)
    # A: day 1 hit; day 2 miss; days 0 and 4 false alarms; days 3 and 5 correct negatives.
    assert table.hits.tolist() == [1, 0]
    assert table.misses.tolist() == [1, 0]
    assert table.false_alarms.tolist() == [2, 0]
    assert table.correct_negatives.tolist() == [2, 6]
    assert table.days.tolist() == [6, 6]
    assert table.fired_days.tolist() == [3, 0]
    pooled = table.overall()
    assert (pooled.hits[0], pooled.misses[0], pooled.false_alarms[0]) == (1, 1, 2)
    assert pooled.correct_negatives[0] == 8


def test_window_counts_floods_in_the_days_after_a_firing() -> None:
    # window 1: day d is "observed" if day d or d + 1 floods -> A becomes [1, 1, 1, 0, 0, 0]
    assert observed_within(OBSERVED, 1)[0].tolist() == [True, True, True, False, False, False]
    table = contingency(FIRED, OBSERVED, window=1)
    # fired [1, 1, 0, 0, 1, 0]: hits days 0, 1; miss day 2; false alarm day 4; CN days 3, 5
    assert (table.hits[0], table.misses[0], table.false_alarms[0]) == (2, 1, 1)
    assert table.correct_negatives[0] == 2
    # the window stops at the end of the record: a flood on the last day counts only there
    last = np.array([[0, 0, 0, 1]], dtype=bool)
    assert observed_within(last, 5)[0].tolist() == [True, True, True, True]
    assert observed_within(last, 1)[0].tolist() == [False, False, True, True]


def test_scores_by_hand() -> None:
    pooled = scores(contingency(FIRED, OBSERVED).overall())
    # hits 1, misses 1, false alarms 2, fired 3 of 12 days
    assert pooled["pod"].value[0] == pytest.approx(1 / 2)
    assert pooled["far"].value[0] == pytest.approx(2 / 3)
    assert pooled["csi"].value[0] == pytest.approx(1 / 4)
    assert pooled["activation"].value[0] == pytest.approx(3 / 12)


def test_zero_denominators_give_nan() -> None:
    per_area = scores(contingency(FIRED, OBSERVED))
    # B: no hit, no miss, no false alarm -> POD, FAR and CSI are 0/0; activation 0/6 = 0
    for name in ("pod", "far", "csi"):
        score = per_area[name]
        assert math.isnan(score.value[1])
        assert math.isnan(score.low[1])
        assert math.isnan(score.high[1])
    assert per_area["activation"].value[1] == 0.0
    assert per_area["activation"].low[1] == 0.0
    # A fires but never hits nor misses on a dry record: FAR = 1, POD 0/0
    dry = scores(contingency(np.array([[True, False]]), np.array([[False, False]])))
    assert dry["far"].value[0] == 1.0
    assert math.isnan(dry["pod"].value[0])


def test_wilson_worked_example_by_hand() -> None:
    # k = 5, n = 10, z = 1.959964: p = 0.5, z²/n = 0.384146, centre = (0.5 + 0.192073) / 1.384146
    # = 0.5; half = z / 1.384146 * sqrt(0.025 + 0.009604) = 1.416003 * 0.186021 = 0.263407
    score = wilson_interval(5, 10)
    assert score.value[0] == 0.5
    assert score.low[0] == pytest.approx(0.5 - 0.263407, abs=1e-6)
    assert score.high[0] == pytest.approx(0.5 + 0.263407, abs=1e-6)


@pytest.mark.parametrize(
    ("k", "n", "confidence", "low", "high"),
    [
        # statsmodels 0.15.0: proportion_confint(k, n, alpha=1 - confidence, method="wilson")
        (7, 20, 0.95, 0.18119182410108203, 0.5671457233147638),
        (0, 8, 0.95, 0.0, 0.32440756488388034),
        (12, 12, 0.95, 0.7575059933447589, 0.9999999999999999),
        (3, 40, 0.90, 0.030370252611738993, 0.17348017873690041),
    ],
)
def test_wilson_matches_statsmodels(
    k: int, n: int, confidence: float, low: float, high: float
) -> None:
    score = wilson_interval(k, n, confidence)
    assert score.low[0] == pytest.approx(low, abs=1e-12)
    assert score.high[0] == pytest.approx(high, abs=1e-12)


def test_wilson_arrays_and_bad_confidence() -> None:
    score = wilson_interval(np.array([5, 0]), np.array([10, 0]))
    assert score.value[0] == 0.5
    assert math.isnan(score.value[1])
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 2, confidence=1.0)


def test_onsets() -> None:
    observed = np.array([[0, 0, 1, 1], [0, 0, 0, 0], [1, 0, 0, 0]], dtype=bool)
    assert onsets(observed).tolist() == [2, -1, 0]


def test_lead_time_window_edges() -> None:
    fired = np.zeros((1, 10), dtype=bool)
    fired[0, 3] = True
    onset = np.array([6])
    # firing 3 days before the onset: inside a 3-day window (inclusive), outside a 2-day one
    assert lead_times(fired, onset, window=3).tolist() == [3.0]
    assert math.isnan(lead_times(fired, onset, window=2)[0])
    # the first firing inside the window counts, not a later one
    fired[0, 5] = True
    assert lead_times(fired, onset, window=4).tolist() == [3.0]
    assert lead_times(fired, onset, window=2).tolist() == [1.0]


def test_lead_time_missing_cases() -> None:
    fired = np.array([[0, 0, 0, 1], [1, 0, 0, 0], [0, 0, 1, 0]], dtype=bool)
    onset = np.array([2, -1, 2])
    leads = lead_times(fired, onset, window=2)
    # area 0 fires only after its onset; area 1 never floods; area 2 fires on the onset day
    assert math.isnan(leads[0])
    assert math.isnan(leads[1])
    assert leads[2] == 0.0


def test_verification_table() -> None:
    table = verification_table(FIRED, OBSERVED, ["PK1", "PK2"], window=2)
    assert table.index.tolist() == ["PK1", "PK2", OVERALL]
    assert table.index.name == "area"
    # window 2: A's observed becomes [1, 1, 1, 0, 0, 0] -> hits 2, miss 1, false alarm 1
    assert table.loc["PK1", ["hits", "misses", "false_alarms", "correct_negatives"]].tolist() == [
        2,
        1,
        1,
        2,
    ]
    assert table.loc[OVERALL, "csi"] == pytest.approx(2 / 4)
    assert table.loc[OVERALL, "activation"] == pytest.approx(3 / 12)
    # A floods first on day 1; first firing in [-1, 1] is day 0 -> lead 1; B has none
    assert table.loc["PK1", "lead_days"] == 1.0
    assert math.isnan(table.loc["PK2", "lead_days"])
    assert table.loc[OVERALL, "lead_days"] == 1.0
    assert math.isnan(table.loc["PK2", "pod_low"])
    assert list(table.columns[-4:]) == [
        "activation",
        "activation_low",
        "activation_high",
        "lead_days",
    ]


def test_shape_and_type_errors() -> None:
    with pytest.raises(ValueError, match="shape"):
        contingency(FIRED, OBSERVED[:, :3])
    with pytest.raises(TypeError, match="boolean"):
        contingency(FIRED.astype(int), OBSERVED)
    with pytest.raises(ValueError, match="labels"):
        verification_table(FIRED, OBSERVED, ["only one"])
