"""Backtests: the replay is the daily evaluation, and the season table follows its definitions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from rahat.engine.triggers.backtest import Replay, read_observed, replay, season_table
from rahat.engine.triggers.evaluate import AreaUnits, evaluate_trigger
from rahat.engine.triggers.files import load_trigger
from rahat.geo.errors import TriggerError

CODES = ("PK70301", "PK70302", "PK70303", "PK70304")
DAYS = pd.date_range("2022-07-01", "2022-08-31")


def _files(tmp_path: Path) -> Path:
    rng = np.random.default_rng(2)
    rows = [
        (code, day.date().isoformat(), float(rng.gamma(0.6, 15.0)))
        for code in CODES[:3]  # the fourth tehsil has no data
        for day in DAYS
    ]
    pd.DataFrame(rows, columns=["pcode", "date", "rain_mm"]).to_csv(tmp_path / "rain.csv")
    trigger = {
        "name": "bt",
        "version": 1,
        "areas": {"level": "tehsil", "codes": list(CODES)},
        "sources": {"rain": {"kind": "area_series", "path": "rain.csv", "value": "rain_mm"}},
        "stages": {
            "readiness": {
                "when": {
                    "any": [
                        {
                            "source": "rain",
                            "reduce": {"accumulate_days": 2},
                            "above": {"return_period": 3, "history": "rain", "block_days": 7},
                            "lead_days": [1, 4],
                        }
                    ]
                }
            },
            "activation": {
                "when": {"any": [{"source": "rain", "above": {"value": 40}, "lead_days": [0, 1]}]}
            },
        },
    }
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(trigger))
    return tmp_path / "t.yaml"


def test_the_replay_is_the_daily_evaluation(tmp_path: Path) -> None:
    file = load_trigger(_files(tmp_path))
    result = replay(file)
    assert result.left_out == ["PK70304"] and result.areas.codes == CODES[:3]
    assert str(result.days[0]) == "2022-07-01" and str(result.days[-1]) == "2022-08-27"
    for j in (0, 20, 40, len(result.days) - 1):
        day = str(result.days[j])
        state = evaluate_trigger(load_trigger(tmp_path / "t.yaml"), day)
        assert "no value for 1 of 4 areas, which cannot fire on it: PK70304" in state.warnings[0]
        for stage, fired in result.fired.items():
            firing = set(state.firing(stage))
            assert [c in firing for c in result.areas.codes] == fired[:, j].tolist(), (stage, day)
    assert result.fired["readiness"].any() and result.fired["activation"].any()


def _replay(fired: list[list[int]]) -> Replay:
    codes = tuple(f"A{i}" for i in range(len(fired)))
    units = AreaUnits("tehsil", codes, codes, (None,) * len(codes))
    days = np.arange(
        np.datetime64("2022-07-25"), np.datetime64("2022-08-06"), dtype="datetime64[D]"
    )
    table = np.zeros((len(fired), len(days)), dtype=bool)
    for i, on in enumerate(fired):
        table[i, on] = True
    return Replay("t", units, days, {"activation": table})


def test_season_outcomes_counts_and_lead_times_follow_the_definitions() -> None:
    # days: index 0 = 07-25 ... 7 = 08-01 (event from), 9 = 08-03 (event to), 10, 11 after
    result = _replay([[2], [10], [], [8], [11], [], [9]])
    observed = pd.Series([0.5, 0.5, 0.5, 0.05, 0.0, 0.0, 0.1], index=[f"A{i}" for i in range(7)])
    rows, overall = season_table(
        result,
        "activation",
        observed,
        flooded_share=0.1,
        event_from="2022-08-01",
        event_to="2022-08-03",
    )
    assert rows["outcome"].tolist() == [
        "hit",  # flooded, fired 07-27
        "miss",  # flooded, fired only after the event (08-04)
        "miss",  # flooded, never fired
        "false_alarm",  # 5 % is below the 10 % flooded share
        "false_alarm",  # dry, fired after the event: still a false alarm
        "correct_negative",
        "hit",  # exactly the flooded share, fired on the event's last day
    ]
    assert rows["lead_days"].tolist()[0] == 5.0 and rows["lead_days"].tolist()[6] == -2.0
    assert np.isnan(rows["lead_days"].tolist()[1])
    counts = {k: overall[k] for k in ("hits", "misses", "false_alarms", "correct_negatives")}
    assert counts == {"hits": 2, "misses": 2, "false_alarms": 2, "correct_negatives": 1}
    assert overall["pod"][0] == 0.5 and overall["far"][0] == 0.5
    assert overall["csi"][0] == pytest.approx(2 / 6, abs=1e-4)
    assert overall["activation_frequency"][0] == pytest.approx(5 / (7 * 12), abs=1e-4)
    assert overall["lead_days_median"] == 1.5
    unknown = observed.drop("A6")
    _, without = season_table(
        result,
        "activation",
        unknown,
        flooded_share=0.1,
        event_from="2022-08-01",
        event_to="2022-08-03",
    )
    assert without["no_observation"] == 1 and without["areas"] == 6


def test_observed_outcome_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "obs.csv"
    path.write_text("pcode,flood_share\nA,0.2\nB,1.4\n")
    with pytest.raises(TriggerError, match=r"no share in \[0, 1\] \(first: row 3\)"):
        read_observed(path)
    path.write_text("pcode,share\nA,0.2\n")
    with pytest.raises(TriggerError, match="missing column"):
        read_observed(path)
    path.write_text("pcode,flood_share\nA,0.2\nA,0.3\n")
    with pytest.raises(TriggerError, match="twice"):
        read_observed(path)


def test_the_shipped_2022_backtest(tmp_path: Path) -> None:
    """The figures the README shows, from the real 2022 data shipped in data/triggers."""
    from typer.testing import CliRunner

    from rahat.api.cli.main import app as cli

    repo = Path(__file__).resolve().parents[2]
    args = ["trigger", "backtest", str(repo / "scenarios/triggers/sindh_rain_2022.yaml")]
    args += ["--observed", str(repo / "data/triggers/sindh_tehsil_flooded_2022.csv")]
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["areas"] == 58 and len(body["left_out"]) == 67
    stages = {s["stage"]: s for s in body["stages"]}
    figures = ("hits", "misses", "false_alarms", "correct_negatives")
    assert [stages["readiness"][k] for k in figures] == [26, 23, 8, 1]
    assert [stages["activation"][k] for k in figures] == [9, 40, 4, 5]
    written = {p.name for p in tmp_path.iterdir()}
    assert written == {"backtest.json", "backtest_areas.csv", "backtest_timeline.png"}
