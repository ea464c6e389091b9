"""The outreach plan against the truth: how many truly unregistered poor its sites reach.

:func:`outreach_capture` plans ``K`` sites from a gap table's *estimates*, spread over where
the registered households live (:func:`rahat.engine.gap.outreach_inputs.registry_places`, as
``rahat gap plan --registry`` does; :func:`rahat.engine.gap.outreach.plan_outreach`), and
measures them on the synthetic population's *truth*: the share of the truly unregistered
bottom-40 % households (in the footprint, or everywhere without one) that the sites reach. It
also reports the same share for ``K`` sites chosen from the truth itself, the reference a
perfect estimate would approach. ``rahat bench gap`` reports both (issue 14, "Validation on
synthetic truth").
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rahat.benchmarks.gap import missed_poor
from rahat.engine.gap.footprint import in_footprint
from rahat.engine.gap.outreach import (
    Coverage,
    OutreachOptions,
    best_uptake,
    greedy_sites,
    plan_outreach,
)
from rahat.engine.gap.outreach_inputs import (
    candidate_sites,
    default_candidates,
    demand_points,
    registry_places,
)

if TYPE_CHECKING:
    from rahat.geo.hazards import HazardLayer


def outreach_capture(
    population: pd.DataFrame,
    gap_table: pd.DataFrame,
    k: int,
    *,
    footprint: HazardLayer | None = None,
    coverage: Coverage | None = None,
    footprint_weight: float = 3.0,
    candidates: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Share of the truly unregistered poor reached by K sites planned from the estimates.

    Parameters
    ----------
    population
        The synthetic population (``lon``, ``lat``, ``pmt_score``, ``registered``), every
        household.
    gap_table
        The gap table estimated from its survey and registry
        (:func:`rahat.engine.gap.estimate_gap`).
    k
        Sites to plan.
    footprint
        A hazard footprint: the truth counted is then the households inside it, and the plan
        weights demand inside it by ``footprint_weight``.
    coverage
        Radius or decay (default: 15 km radius).
    footprint_weight
        Weight of the estimated demand inside the footprint.
    candidates
        Candidate sites (``name``, ``lon``, ``lat``; default:
        :func:`rahat.engine.gap.outreach_inputs.default_candidates`).

    Returns
    -------
    dict
        ``outreach_capture``: the share of the target households (truly unregistered bottom-40 %
        households in the footprint, or all of them without one) that the top-``K`` sites
        planned from the estimates reach (with decay: their expected uptake);
        ``outreach_capture_best``: the same share for ``K`` sites chosen greedily from the
        truth (the target households' own locations). Greedy maximum coverage is within
        ``1 - 1/e`` of the best ``K`` sites, so this is the (1-1/e)-approximate reference, not
        a proven optimum; ``outreach_capture`` can exceed it by chance. Also
        ``outreach_sites`` (K), ``outreach_target_households`` and ``outreach_seconds``
        (planning and measuring). Both shares are ``None`` when there is no target household.
    """
    from rahat.geo.registration_centres import registration_centres

    started = time.perf_counter()
    coverage = coverage or Coverage()
    sites = candidate_sites(default_candidates() if candidates is None else candidates).sites
    registered = population["registered"].to_numpy(bool)
    places = registry_places(
        population["lon"].to_numpy(np.float64)[registered],
        population["lat"].to_numpy(np.float64)[registered],
    )
    demand = demand_points(gap_table, places)
    xy = (demand.points["lon"].to_numpy(), demand.points["lat"].to_numpy())
    in_fp = None if footprint is None else in_footprint(footprint, *xy)
    options = OutreachOptions(sites=k, coverage=coverage, footprint_weight=footprint_weight)
    plan = plan_outreach(demand, sites, registration_centres(), options, in_fp)

    target = missed_poor(population)
    lon = population["lon"].to_numpy(np.float64)[target]
    lat = population["lat"].to_numpy(np.float64)[target]
    if footprint is not None:
        inside = in_footprint(footprint, lon, lat)
        lon, lat = lon[inside], lat[inside]
    n = len(lon)
    capture = best = None
    if n:
        planned = (plan.sites["lon"].to_numpy(), plan.sites["lat"].to_numpy())
        capture = float(best_uptake(planned, (lon, lat), coverage).sum()) / n
        site_xy = (sites["lon"].to_numpy(np.float64), sites["lat"].to_numpy(np.float64))
        chosen = greedy_sites(site_xy, (lon, lat), np.ones(n), min(k, len(sites)), coverage)
        best = float(chosen.added.sum()) / n
    return {
        "outreach_capture": None if capture is None else round(capture, 4),
        "outreach_capture_best": None if best is None else round(best, 4),
        "outreach_sites": int(k),
        "outreach_target_households": int(n),
        "outreach_seconds": round(time.perf_counter() - started, 3),
    }
