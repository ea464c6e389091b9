"""The two-phase ranking (per partition on the workers, then a merge) gives one machine's caseload.

:func:`merge_runs` is checked against ``np.lexsort`` on runs full of ties; the evaluation with a
real LocalCluster's ranking (two worker processes, the registry read by each worker from its
snapshot folder) against the single-machine evaluation, frame for frame, for a budget cut, for
quotas decided by the keyed hash alone (every weight zero: all scores tie) with stale records
down-weighted, and for a registry that is not a snapshot (its rows travel with the tasks).
"""

from __future__ import annotations

import itertools
import os
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rahat.engine.exposure_cache import ExposureCache
from rahat.engine.kernels.merge import merge_runs
from rahat.engine.targeting import evaluate, load_scenario
from rahat.engine.targeting.caseload import Caseload
from rahat.geo.hazards import read_hazard
from rahat.geo.paths import repo_root
from rahat.geo.registry.model import Registry
from rahat.geo.registry.order import canonical_order
from rahat.geo.registry.snapshot import import_registry, open_snapshot
from rahat.geo.registry.synth import synthesize

pytest.importorskip("distributed")

DEPTH = repo_root() / "data" / "samples" / "flood_depth_sample.tif"


def _sorted_runs(rng: np.random.Generator, sizes: list[int]) -> tuple[Any, ...]:
    """Keys with many ties, each run sorted by (first, second, third)."""
    n = sum(sizes)
    first = rng.integers(0, 4, n).astype(np.uint64)
    second = rng.integers(0, 3, n).astype(np.uint64)
    third = rng.permutation(n).astype(np.int64)
    bounds = np.cumsum([0, *sizes])
    for a, b in itertools.pairwise(bounds):
        order = np.lexsort((third[a:b], second[a:b], first[a:b]))
        first[a:b], second[a:b], third[a:b] = (
            first[a:b][order],
            second[a:b][order],
            third[a:b][order],
        )
    return first, second, third, bounds


@pytest.mark.parametrize("sizes", [[5], [3, 0, 7], [4, 4, 4, 1, 9], [1] * 11, [0, 0], []])
def test_merge_runs_is_lexsort(sizes: list[int]) -> None:
    first, second, third, bounds = _sorted_runs(np.random.default_rng(len(sizes)), sizes)
    got = merge_runs(first, second, third, bounds)
    np.testing.assert_array_equal(got, np.lexsort((third, second, first)))


def test_merge_runs_refuses_bounds_that_do_not_cover_the_keys() -> None:
    keys = np.zeros(4, dtype=np.uint64)
    with pytest.raises(ValueError, match="rise from 0"):
        merge_runs(keys, keys, keys.astype(np.int64), np.array([0, 3]))
    with pytest.raises(ValueError, match="rise from 0"):
        merge_runs(keys, keys, keys.astype(np.int64), np.array([0, 3, 2, 4]))


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """12,000 synthetic households, half of them moved onto the sample flood, as a snapshot."""
    frame = synthesize(12_000, 5)
    rng = np.random.default_rng(5)
    half = len(frame) // 2
    frame.loc[: half - 1, "lon"] = rng.uniform(67.55, 67.72, half)
    frame.loc[: half - 1, "lat"] = rng.uniform(26.85, 27.0, half)
    folder = tmp_path_factory.mktemp("ranking")
    frame.to_parquet(folder / "registry.parquet")
    import_registry(folder / "registry.parquet", folder / "snapshot", partitions=4)
    return open_snapshot(folder / "snapshot")


def _scenario(**changes: Any) -> Any:
    document: dict[str, Any] = {
        "name": "ranking",
        "hazards": [{"name": "depth", "path": str(DEPTH), "kind": "flood_depth"}],
        "eligibility": {"pmt_cutoff": 45, "hazard": [{"layer": "depth", "min_intensity": 0.2}]},
        "benefit": {"kind": "fixed", "amount": 25000},
        "budget": {"total": 25000 * 700},
    }
    document.update(changes)
    return load_scenario(document)


def _caseloads(client: Any, registry: Registry, scenario: Any) -> tuple[Caseload, Caseload]:
    depth = read_hazard(DEPTH, kind="flood_depth", name="depth")
    cluster = ExposureCache(client=client, store=False)
    exposure = cluster.exposure(registry, [depth], scenario)
    ranking = cluster.ranking(exposure)
    assert ranking is not None  # the parts are on the workers
    here = evaluate(scenario, ExposureCache(store=False).exposure(registry, [depth], scenario))
    return evaluate(scenario, exposure, ranking=ranking), here


def _assert_same(got: Caseload, expected: Caseload) -> None:
    assert expected.totals["selected"] > 50 and expected.totals["cut"]["first_unselected_rank"]
    pd.testing.assert_frame_equal(got.frame, expected.frame)
    assert got.totals == expected.totals
    pd.testing.assert_frame_equal(got.quotas, expected.quotas)


def test_a_budget_cut_ranked_on_the_workers(client: Any, snapshot: Registry) -> None:
    _assert_same(*_caseloads(client, snapshot, _scenario()))


def test_a_worker_killed_between_the_overlay_and_the_ranking(
    client: Any, snapshot: Registry
) -> None:
    scenario = _scenario()
    depth = read_hazard(DEPTH, kind="flood_depth", name="depth")
    cluster = ExposureCache(client=client, store=False)
    exposure = cluster.exposure(snapshot, [depth], scenario)
    victim = sorted(client.run(os.getpid).values())[0]
    os.kill(victim, signal.SIGKILL)  # its parts, and maybe the only copy of the layers, go
    ranking = cluster.ranking(exposure)
    assert ranking is not None
    got = evaluate(scenario, exposure, ranking=ranking)  # the lost parts computed again
    here = evaluate(scenario, ExposureCache(store=False).exposure(snapshot, [depth], scenario))
    _assert_same(got, here)
    assert victim not in client.run(os.getpid).values()


def test_what_crosses_the_network_is_counted(client: Any, snapshot: Registry) -> None:
    depth = read_hazard(DEPTH, kind="flood_depth", name="depth")
    cluster = ExposureCache(client=client, store=False)
    exposure = cluster.exposure(snapshot, [depth], _scenario())
    arrays = sum(h.intensity.nbytes + h.hazard_class.nbytes for h in exposure.hazards.values())
    arrays += sum(z.codes.nbytes for z in exposure.zones.values())
    moved = cluster.cluster_moved_mb()
    assert moved["overlay_back"] == round(arrays / 2**20, 3) > 0
    assert moved["rows_out"] < 0.01  # a snapshot: the workers read the rows themselves
    assert moved["layers_out"] > 0 and set(cluster.cluster_seconds()) == {"scatter", "overlay"}


def test_quotas_decided_by_the_keyed_hash_alone(client: Any, snapshot: Registry) -> None:
    zero = dict.fromkeys(
        ["severity", "poverty", "children_under5", "elderly", "disabled", "female_headed",
         "kacha", "livelihood_loss"], 0.0,
    )  # fmt: skip
    scenario = _scenario(
        priority={"weights": zero},
        quotas={"level": "district", "mode": "proportional"},
        seed=11,
    )
    got, expected = _caseloads(client, snapshot, scenario)
    _assert_same(got, expected)
    assert (expected.frame["score"] == 0).all()  # every tie broken by the hash


def test_stale_records_down_weighted(client: Any, snapshot: Registry) -> None:
    scenario = _scenario(stale_records={"older_than_years": 2, "action": "down_weight",
                                        "weight": 0.5})  # fmt: skip
    _assert_same(*_caseloads(client, snapshot, scenario))


def test_a_registry_that_is_not_a_snapshot(client: Any, snapshot: Registry) -> None:
    rows = canonical_order(Registry.from_frame(snapshot.frame.copy()))
    assert rows.snapshot_sha256 is None  # its rows travel with the tasks
    _assert_same(*_caseloads(client, rows, _scenario()))


def test_the_workers_refuse_another_snapshot(
    client: Any, snapshot: Registry, tmp_path: Path
) -> None:
    from rahat.engine.distributed import parts
    from rahat.geo.errors import InputError

    assert snapshot.snapshot_sha256 is not None
    wrong = parts.SnapshotRows(str(Path(str(snapshot.source)).parent), "0" * 64, len(snapshot))
    future = client.submit(parts.part_registry, wrong, 0, 10, pure=False)
    with pytest.raises(InputError, match="another registry snapshot"):
        future.result()
