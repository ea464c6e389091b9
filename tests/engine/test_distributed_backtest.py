"""A trigger backtest on a real Dask LocalCluster equals the one-machine replay, field by field.

The season is an ensemble forecast of five members over four tehsils (one without data, left
out), with a return-period threshold fitted on the days before each as-of date, a share of
members to reach, a rejected row (a reader's warning) and, near the end, lead windows the
series covers only in part (a warning that names the day, so their order is the days' order).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from rahat.engine.distributed.backtest import distributed_replay
from rahat.engine.triggers.backtest import Replay, replay
from rahat.engine.triggers.files import TriggerFile, load_trigger
from rahat.geo.errors import InputError, TriggerError

pytest.importorskip("distributed")

CODES = ("PK70301", "PK70302", "PK70303", "PK70304")
DAYS = pd.date_range("2022-06-01", "2022-08-31")
MEMBERS = 5


@pytest.fixture(scope="module")
def trigger(tmp_path_factory: pytest.TempPathFactory) -> TriggerFile:
    folder = tmp_path_factory.mktemp("season")
    rng = np.random.default_rng(5)
    rows: list[tuple[Any, ...]] = [
        (code, day.date().isoformat(), round(float(rng.gamma(0.5, 16.0)), 2), member)
        for code in CODES[:3]  # the fourth tehsil has no data
        for day in DAYS
        for member in range(MEMBERS)
    ]
    rows.append(("PK70301", "2022-07-01", "n/a", 0))  # rejected: the reader warns
    columns = ["pcode", "date", "rain_mm", "member"]
    pd.DataFrame(rows, columns=columns).to_csv(folder / "rain.csv", index=False)
    spec = {
        "name": "ensemble",
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
                            "above": {"return_period": 2, "history": "rain", "block_days": 7},
                            "probability": 0.4,
                            "lead_days": [1, 14],
                        }
                    ]
                }
            },
            "activation": {
                "when": {
                    "any": [
                        {
                            "source": "rain",
                            "above": {"value": 15},
                            "probability": 0.4,
                            "lead_days": [0, 1],
                        }
                    ]
                }
            },
        },
    }
    (folder / "t.yaml").write_text(yaml.safe_dump(spec))
    return load_trigger(folder / "t.yaml")


def assert_same(got: Replay, want: Replay) -> None:
    assert got.trigger == want.trigger and got.areas == want.areas
    assert got.days.dtype == want.days.dtype and np.array_equal(got.days, want.days)
    assert list(got.fired) == list(want.fired)
    for stage, table in want.fired.items():
        assert got.fired[stage].dtype == table.dtype and got.fired[stage].shape == table.shape
        assert np.array_equal(got.fired[stage], table), stage
    assert got.left_out == want.left_out and got.warnings == want.warnings


def test_the_replay_on_a_cluster_is_the_replay(client: Any, trigger: TriggerFile) -> None:
    want = replay(trigger, end="2022-08-30")  # the last 13 lead windows run out of days
    notes = [w for w in want.warnings if "of the lead window" in w]
    assert len(notes) == 13 and any("rows rejected" in w for w in want.warnings)
    assert want.left_out == ["PK70304"] and len(want.days) == 91
    for table in want.fired.values():  # firing varies by area and day: joins in order matter
        assert 0 < table.sum() < table.size and len({tuple(c) for c in table.T}) > 2
    assert_same(distributed_replay(client, trigger, end="2022-08-30"), want)


@pytest.mark.parametrize(("start", "end"), [("2022-08-10", "2022-08-12"), ("2022-08-12", None)])
def test_more_tasks_than_days(client: Any, trigger: TriggerFile, start: str, end: Any) -> None:
    want = replay(trigger, start, end)
    assert len(want.days) < 8  # two workers, four runs each
    assert_same(distributed_replay(client, trigger, start, end), want)


def test_a_day_outside_the_series_is_the_error_one_machine_gives(
    client: Any, trigger: TriggerFile
) -> None:
    from distributed import get_task_stream

    with pytest.raises(TriggerError) as single:
        replay(trigger, "2022-08-01", "2022-09-20")
    with get_task_stream(client) as tasks, pytest.raises(TriggerError) as spread:
        distributed_replay(client, trigger, "2022-08-01", "2022-09-20")
    assert str(spread.value) == str(single.value) and "2022-08-31" in str(single.value)
    runs = [t for t in tasks.data if t["key"].startswith("catching")]
    assert len(runs) == 8  # two workers, four runs each, none run again (same error)


def test_a_cluster_without_workers_is_a_clear_error(trigger: TriggerFile) -> None:
    class Empty:
        def nthreads(self) -> dict[str, int]:
            return {}

    with pytest.raises(InputError, match="no worker"):
        distributed_replay(Empty(), trigger)


def test_the_sources_given_replace_the_triggers(
    client: Any, trigger: TriggerFile, tmp_path: Path
) -> None:
    assert trigger.base_dir is not None
    frame = pd.read_csv(trigger.base_dir / "rain.csv", dtype=str)
    frame = frame[frame["member"] != "4"]  # four members: other shares of members
    frame.to_csv(tmp_path / "other.csv", index=False)
    given = {"rain": tmp_path / "other.csv"}
    want = replay(trigger, "2022-07-20", "2022-08-20", given)
    assert_same(distributed_replay(client, trigger, "2022-07-20", "2022-08-20", given), want)
