"""Synthetic exposures (random arrays, no files) and the policy-evaluation benchmark.

:func:`synthetic_exposure` builds a registry and a flood-depth exposure of any size directly in
memory: canonical registry dtypes, real Sindh and Punjab district names (Sindh with COD-AB
P-codes), 8 tehsils per district, a float32 depth layer wet for about a third of households.
It is what ``rahat bench policy`` and the targeting tests evaluate scenarios on.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import pandas as pd

from rahat.engine.exposure import Exposure, HazardExposure
from rahat.geo.registry.model import Registry
from rahat.geo.registry.schema import PROGRAMMES, Dwelling, Livelihood

#: (province, district, district P-code or None) of the synthetic registry.
DISTRICTS: tuple[tuple[str, str, str | None], ...] = (
    ("Sindh", "Dadu", "PK703"),
    ("Sindh", "Jacobabad", "PK707"),
    ("Sindh", "Larkana", "PK713"),
    ("Sindh", "Khairpur", "PK711"),
    ("Sindh", "Hyderabad", "PK706"),
    ("Sindh", "Badin", "PK701"),
    ("Punjab", "Rajanpur", None),
    ("Punjab", "Dera Ghazi Khan", None),
)
TEHSILS_PER_DISTRICT = 8


def synthetic_registry(n_households: int, seed: int = 0) -> Registry:
    """Return a random registry of ``n_households`` with canonical dtypes (no file).

    Parameters
    ----------
    n_households
        Number of households.
    seed
        Random seed (same seed, same registry).
    """
    rng = np.random.default_rng(seed)
    n = n_households
    d = rng.integers(0, len(DISTRICTS), n)
    t = rng.integers(0, TEHSILS_PER_DISTRICT, n)
    provinces = sorted({p for p, _, _ in DISTRICTS})
    prov_code = np.array([provinces.index(p) for p, _, _ in DISTRICTS])[d]
    district_names = [name for _, name, _ in DISTRICTS]
    tehsil_names = [
        f"{name} T{k + 1}" for name in district_names for k in range(TEHSILS_PER_DISTRICT)
    ]
    pcode_cats = sorted({p for _, _, p in DISTRICTS if p})
    d_pcode = np.array([pcode_cats.index(p) if p else -1 for _, _, p in DISTRICTS])[d]
    tehsil_code = d * TEHSILS_PER_DISTRICT + t
    t_pcode_cats = [
        f"{p}{k + 1:02d}" for _, _, p in DISTRICTS if p for k in range(TEHSILS_PER_DISTRICT)
    ]
    t_pcode_of = np.array(
        [
            t_pcode_cats.index(f"{p}{k + 1:02d}") if p else -1
            for _, _, p in DISTRICTS
            for k in range(TEHSILS_PER_DISTRICT)
        ]
    )
    size = np.clip(rng.poisson(5.5, n) + 1, 1, 60).astype(np.int16)
    children = np.minimum(rng.poisson(0.9, n), size).astype(np.int16)
    elderly = np.minimum(rng.poisson(0.4, n), size).astype(np.int16)
    disabled = np.minimum(rng.binomial(2, 0.06, n), size).astype(np.int16)
    programmes = ["", *PROGRAMMES[:2], f"{PROGRAMMES[0]}|{PROGRAMMES[3]}"]
    prog_code = rng.choice(len(programmes), n, p=[0.7, 0.15, 0.1, 0.05])
    frame = pd.DataFrame(
        {
            "household_id": rng.permutation(np.arange(1, n + 1, dtype=np.int64) * 7 + 100),
            "lon": rng.uniform(67.0, 71.0, n),
            "lat": rng.uniform(24.0, 30.0, n),
            "province": pd.Categorical.from_codes(prov_code, categories=pd.Index(provinces)),
            "district": pd.Categorical.from_codes(d, categories=pd.Index(district_names)),
            "tehsil": pd.Categorical.from_codes(tehsil_code, categories=pd.Index(tehsil_names)),
            "district_pcode": pd.Categorical.from_codes(d_pcode, categories=pd.Index(pcode_cats)),
            "tehsil_pcode": pd.Categorical.from_codes(
                t_pcode_of[tehsil_code], categories=pd.Index(t_pcode_cats)
            ),
            "pmt_score": np.round(rng.beta(2.2, 3.0, n) * 100, 2).astype(np.float32),
            "household_size": size,
            "children_under5": children,
            "elderly": elderly,
            "disabled": disabled,
            "female_headed": rng.random(n) < 0.12,
            "dwelling": pd.Categorical.from_codes(
                rng.choice(3, n, p=[0.45, 0.3, 0.25]),
                categories=pd.Index([v.value for v in Dwelling]),
            ),
            "livelihood": pd.Categorical.from_codes(
                rng.integers(0, len(Livelihood), n),
                categories=pd.Index([v.value for v in Livelihood]),
            ),
            "programmes": pd.Categorical.from_codes(
                np.where(prog_code == 0, -1, prog_code - 1), categories=pd.Index(programmes[1:])
            ),
        }
    )
    return Registry.from_frame(frame, source=None)


def synthetic_exposure(n_households: int, seed: int = 0) -> Exposure:
    """Return a registry of ``n_households`` with a float32 ``depth`` flood layer (no files).

    The depth is 0 for about two thirds of households, otherwise lognormal (median ~0.5 m),
    rounded to the centimetre, NaN (no data) for 0.5 %; classes from the default flood-depth
    classification.
    """
    from rahat.geo.hazards.classes import default_classes

    registry = synthetic_registry(n_households, seed)
    rng = np.random.default_rng(seed + 1)
    n = n_households
    wet = rng.random(n) < 0.35
    depth = np.where(wet, np.round(rng.lognormal(-0.7, 0.8, n), 2), 0.0).astype(np.float32)
    depth[rng.random(n) < 0.005] = np.nan
    classes = default_classes("flood_depth")
    layer = HazardExposure(
        name="depth",
        kind="flood_depth",
        units="m",
        intensity=depth,
        hazard_class=classes.classify(depth),
        class_labels=classes.labels,
        sha256="0" * 64,
    )
    return Exposure(registry=registry, hazards={"depth": layer})


#: Scenario used by :func:`bench_policy`: every rule kind that needs no file.
BENCH_SCENARIO: dict[str, Any] = {
    "name": "bench",
    "seed": 7,
    "season": "kharif",
    "hazards": [{"name": "depth", "path": "demo:flood_depth_sindh_2022", "kind": "flood_depth"}],
    "eligibility": {
        "pmt_cutoff": 32,
        "hazard": [{"layer": "depth", "min_intensity": 0.3}],
        "livelihood": [
            {
                "livelihoods": ["crop_farming"],
                "layer": "depth",
                "min_intensity": 0.05,
                "seasons": ["kharif"],
            }
        ],
        "area_relative": {"level": "tehsil", "bottom_percent": 60},
        "exclude": {"programmes": ["zakat"]},
    },
    "priority": {
        "weights": {
            "severity": 0.4,
            "poverty": 0.3,
            "children_under5": 0.1,
            "kacha": 0.1,
            "female_headed": 0.05,
            "livelihood_loss": 0.05,
        }
    },
    "benefit": {"kind": "fixed", "amount": 25000},
    "quotas": {"level": "district", "mode": "proportional"},
}


def bench_policy(n_households: int, repeats: int = 3) -> dict[str, Any]:
    """Time :func:`~rahat.engine.targeting.evaluate.evaluate` on a synthetic exposure.

    One warm-up evaluation fills the per-registry memo (as a cached exposure would have), then
    the median of ``repeats`` runs is reported.

    Parameters
    ----------
    n_households
        Size of the synthetic registry.
    repeats
        Timed runs.

    Returns
    -------
    dict
        ``households``, ``seconds`` (median), ``households_per_s``, ``first_run_s``,
        ``eligible``, ``selected``.
    """
    from rahat.engine.targeting.evaluate import evaluate
    from rahat.engine.targeting.scenario import load_scenario

    exposure = synthetic_exposure(n_households)
    budget = {"max_households": max(n_households // 20, 1)}
    scenario = load_scenario({**BENCH_SCENARIO, "budget": budget})
    start = time.perf_counter()
    caseload = evaluate(scenario, exposure)
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        caseload = evaluate(scenario, exposure)
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {
        "households": n_households,
        "seconds": round(seconds, 4),
        "households_per_s": round(n_households / seconds) if seconds > 0 else None,
        "first_run_s": round(first, 4),
        "eligible": caseload.totals["eligible"],
        "selected": caseload.totals["selected"],
    }
