"""The pieces every distributed stage shares: runs of items, and the tasks' own errors."""

from __future__ import annotations

from typing import Any

import pytest

from rahat.engine.distributed.tasks import catching, even_runs, results, workers_of
from rahat.geo.errors import InputError, ScenarioError


@pytest.mark.parametrize("count", [0, 1, 2, 3, 7, 8, 9, 91])
@pytest.mark.parametrize("parts", [1, 2, 8])
def test_the_runs_cover_every_item_once_in_order(count: int, parts: int) -> None:
    runs = even_runs(count, parts)
    assert [i for start, stop in runs for i in range(start, stop)] == list(range(count))
    assert len(runs) == min(count, parts) and all(stop > start for start, stop in runs)
    lengths = [stop - start for start, stop in runs]
    assert not lengths or max(lengths) - min(lengths) <= 1


def _check(value: int, *, limit: int = 10) -> int:
    if value > limit:
        raise ScenarioError(f"{value} is over {limit}")
    return value


def test_an_input_error_is_returned_and_the_first_is_raised() -> None:
    assert catching(_check, 3, limit=5) == (3, None)
    _, error = catching(_check, 7, limit=5)
    assert isinstance(error, ScenarioError)
    pairs = [catching(_check, v, limit=5) for v in (1, 6, 2, 9)]
    with pytest.raises(ScenarioError, match="6 is over 5"):  # the first run's, as one machine
        results(pairs)
    assert results([catching(_check, v) for v in (1, 2)]) == [1, 2]
    with pytest.raises(ZeroDivisionError):  # a bug is not an input's error: it is raised
        catching(lambda: 1 / 0)


class _Client:
    def __init__(self, workers: dict[str, Any] | OSError) -> None:
        self.workers = workers

    def nthreads(self) -> dict[str, Any]:  # asks the scheduler, which may be gone
        if isinstance(self.workers, OSError):
            raise self.workers
        return self.workers


def test_a_cluster_without_workers_is_refused() -> None:
    assert workers_of(_Client({"tcp://a:1": {}, "tcp://b:1": {}})) == 2
    with pytest.raises(InputError, match="no worker"):
        workers_of(_Client({}))
    with pytest.raises(InputError, match="scheduler cannot be reached"):
        workers_of(_Client(TimeoutError("reconnecting")))
