"""Where registration teams should go first: greedy maximum coverage of the unregistered poor.

Demand is the gap table's expected unregistered bottom-40 % households per district, spread over
places inside each district (settlements, or the cells of a population raster) by
:func:`~rahat.engine.gap.outreach_inputs.demand_points`. Demand points inside a hazard footprint
count ``footprint_weight`` times in the objective (their households are reported as they are).

A site *reaches* a demand point with an uptake ``u(d)`` of the great-circle (haversine, Earth
radius :data:`EARTH_RADIUS_KM`) distance ``d`` in km:

* **radius** (default): ``u = 1`` when ``d <= radius_km`` (the boundary is inside), else 0;
* **decay**: ``u = exp(-d / decay_km)``, the share of the households there that come.

A household registers at the chosen site that suits it best, so a set of sites reaches
``sum_j w_j * max_s u(d_sj)``: a facility-location objective, monotone and submodular, for which
the greedy choice (:func:`greedy_sites`: each step adds the site with the largest marginal gain,
the lowest candidate index on ties) is within ``1 - 1/e`` of the best set of ``K`` sites. It runs
*lazily* (CELF: a site's earlier gain bounds its gain now), with numba kernels over plain arrays:
500 candidates x 100,000 demand points take well under a second.

:func:`plan_outreach` builds the plan: each site's expected yield (its marginal households,
all and in the footprint), the cumulative share of the demand, the reach of the baseline "one
centre per tehsil" (:func:`rahat.geo.registration_centres.registration_centres`) with the same
uptake, and the cost per registered household at a centre against door to door.

Demand points may be **referred** households: claimants a claims check found unregistered in a
footprint (:mod:`rahat.engine.gap.outreach_referrals`). They are known people in the footprint,
so they count ``footprint_weight`` times like demand inside a hazard footprint, and each site's
``referred_yield`` is the referred households it adds.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rahat.engine.gap.outreach_inputs import Demand, site_districts
from rahat.geo.errors import InputError
from rahat.geo.jit import kernel, parallel_kernel, prange

#: Mean Earth radius (IUGG) of the haversine distances, in km.
EARTH_RADIUS_KM = 6371.0088
#: Default travel radius of a site, in km.
DEFAULT_RADIUS_KM = 15.0
#: Default weight of a demand point inside the footprint, relative to one outside.
DEFAULT_FOOTPRINT_WEIGHT = 3.0
#: Cost of registering one household at a centre and door to door, in USD (World Bank,
#: *Mind the Gap*).
COST_CENTRE_USD = 0.53
COST_DOOR_USD = 2.47
#: Columns of :attr:`OutreachPlan.sites`.
SITE_COLUMNS: tuple[str, ...] = (
    "rank",
    "name",
    "lon",
    "lat",
    "district",
    "expected_yield",
    "cumulative_yield",
    "cumulative_share",
    "in_footprint_yield",
    "referred_yield",
)


# -- kernels: points as rows (lon, lat, cos lat), in radians -------------------------------------


@kernel
def _uptake(a: np.ndarray, b: np.ndarray, radius_km: float, decay_km: float) -> float:
    """Uptake at the haversine distance between points ``a`` and ``b`` (rows of :func:`_rows`).

    The half-differences' sines come from the rows' half-angle sines and cosines (no ``sin``
    call); with a radius, points further apart in latitude alone are rejected first
    (``d >= R * |dlat|``, with a margin far above rounding).
    """
    if decay_km <= 0.0 and EARTH_RADIUS_KM * abs(b[1] - a[1]) > radius_km * (1 + 1e-9) + 1e-9:
        return 0.0
    s_lat = b[3] * a[4] - b[4] * a[3]
    s_lon = b[5] * a[6] - b[6] * a[5]
    h = min(1.0, s_lat * s_lat + a[2] * b[2] * s_lon * s_lon)
    d = 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))
    if decay_km > 0.0:
        return math.exp(-d / decay_km)
    return 1.0 if d <= radius_km else 0.0


@kernel
def _gain(
    site: np.ndarray, pts: np.ndarray, w: np.ndarray, best: np.ndarray, radius: float, decay: float
) -> float:
    """Weighted demand one site adds over ``best`` (the uptake the chosen sites give)."""
    total = 0.0
    for j in range(len(pts)):
        if w[j] > 0.0 and best[j] < 1.0:
            u = _uptake(site, pts[j], radius, decay)
            if u > best[j]:
                total += w[j] * (u - best[j])
    return total


@parallel_kernel
def _gains(
    sites: np.ndarray, pts: np.ndarray, w: np.ndarray, best: np.ndarray, radius: float, decay: float
) -> np.ndarray:
    """:func:`_gain` of every site, in parallel over the sites (each sum in one order)."""
    out = np.empty(len(sites), dtype=np.float64)
    for i in prange(len(sites)):
        out[i] = _gain(sites[i], pts, w, best, radius, decay)
    return out


@kernel
def _take(
    site: np.ndarray,
    pts: np.ndarray,
    households: np.ndarray,
    footprint: np.ndarray,
    best: np.ndarray,
    radius: float,
    decay: float,
) -> tuple[float, float]:
    """Add a site: raise ``best`` in place; return the households it adds (all, in footprint)."""
    added = 0.0
    added_fp = 0.0
    for j in range(len(pts)):
        u = _uptake(site, pts[j], radius, decay)
        if u > best[j]:
            gain = households[j] * (u - best[j])
            added += gain
            if footprint[j]:
                added_fp += gain
            best[j] = u
    return added, added_fp


@parallel_kernel
def _best_uptake(sites: np.ndarray, pts: np.ndarray, radius: float, decay: float) -> np.ndarray:
    """Best uptake of every demand point over all the sites, in parallel over the points."""
    out = np.zeros(len(pts), dtype=np.float64)
    for j in prange(len(pts)):
        b = 0.0
        for i in range(len(sites)):
            b = max(b, _uptake(sites[i], pts[j], radius, decay))
        out[j] = b
    return out


# -- greedy maximum coverage -------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """How a site reaches households: within ``radius_km``, or by decay when ``decay_km`` is set.

    Attributes
    ----------
    radius_km
        Households at most this far (great-circle km, boundary included) are reached.
    decay_km
        When set, a share ``exp(-d / decay_km)`` of the households at ``d`` km is reached
        (the radius is then not used).
    """

    radius_km: float = DEFAULT_RADIUS_KM
    decay_km: float | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.radius_km) and self.radius_km >= 0):
            raise InputError(f"the radius must be a distance >= 0 km, not {self.radius_km}")
        if self.decay_km is not None and not (np.isfinite(self.decay_km) and self.decay_km > 0):
            raise InputError(f"the decay distance must be > 0 km, not {self.decay_km}")

    def args(self) -> tuple[float, float]:
        """``(radius_km, decay_km)`` as the kernels take them (decay 0: the radius applies)."""
        return float(self.radius_km), float(self.decay_km or 0.0)

    def describe(self) -> str:
        """One line for reports: which uptake, with its distance."""
        if self.decay_km is not None:
            return f"exp(-d / {self.decay_km:g} km), d great-circle (haversine)"
        return f"d <= {self.radius_km:g} km, d great-circle (haversine)"


def _rows(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Points as the kernels take them, one row each (angles in radians).

    ``lon, lat, cos(lat), sin(lat/2), cos(lat/2), sin(lon/2), cos(lon/2)``.
    """
    lam = np.radians(np.asarray(lon, dtype=np.float64))
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    half_lat, half_lon = 0.5 * phi, 0.5 * lam
    columns = [lam, phi, np.cos(phi), np.sin(half_lat), np.cos(half_lat)]
    return np.ascontiguousarray(np.column_stack([*columns, np.sin(half_lon), np.cos(half_lon)]))


@dataclass(frozen=True)
class Greedy:
    """The sites :func:`greedy_sites` chose, in order.

    Attributes
    ----------
    order
        Candidate indices, best first (fewer than asked when no candidate adds anything).
    gain
        Weighted demand each site added (the objective's marginal gain).
    added
        Households each site added (its expected yield).
    added_in_footprint
        The part of ``added`` inside the footprint.
    uptake
        Best uptake of each demand point over the chosen sites (0 to 1).
    """

    order: np.ndarray
    gain: np.ndarray
    added: np.ndarray
    added_in_footprint: np.ndarray
    uptake: np.ndarray


def greedy_sites(
    sites: tuple[np.ndarray, np.ndarray],
    points: tuple[np.ndarray, np.ndarray],
    households: np.ndarray,
    k: int,
    coverage: Coverage,
    *,
    weight: np.ndarray | None = None,
    in_footprint: np.ndarray | None = None,
) -> Greedy:
    """Choose up to ``k`` sites that reach the most weighted demand, greedily (lazy evaluation).

    Parameters
    ----------
    sites
        Candidate ``(lon, lat)``, degrees.
    points
        Demand ``(lon, lat)``, degrees.
    households
        Households at each demand point (>= 0).
    k
        Sites to choose (at most the number of candidates).
    coverage
        The uptake with distance.
    weight
        Objective weight of each point (default: ``households``).
    in_footprint
        Which points lie in the footprint (default: none), for ``added_in_footprint``.

    Returns
    -------
    Greedy
        The chosen sites; it stops early once no candidate adds any demand.
    """
    s_rows, rows = _rows(*sites), _rows(*points)
    households = np.asarray(households, dtype=np.float64)
    w = households if weight is None else np.asarray(weight, dtype=np.float64)
    fp = np.zeros(len(rows), dtype=np.bool_) if in_footprint is None else in_footprint
    fp = np.asarray(fp, dtype=np.bool_)
    if not 1 <= k <= len(s_rows):
        raise InputError(f"choose between 1 and {len(s_rows)} sites (the candidates), not {k}")
    radius, decay = coverage.args()
    best = np.zeros(len(rows), dtype=np.float64)
    first = _gains(s_rows, rows, w, best, radius, decay)
    heap = [(-float(g), i, 0) for i, g in enumerate(first)]
    heapq.heapify(heap)
    order: list[int] = []
    gains: list[float] = []
    added: list[tuple[float, float]] = []
    while len(order) < k and heap:
        neg, site, step = heapq.heappop(heap)
        if step < len(order):  # stale: its gain can only have fallen since
            fresh = _gain(s_rows[site], rows, w, best, radius, decay)
            heapq.heappush(heap, (-float(fresh), site, len(order)))
            continue
        if -neg <= 0.0:
            break
        order.append(site)
        gains.append(-neg)
        added.append(_take(s_rows[site], rows, households, fp, best, radius, decay))
    pairs = np.array(added, dtype=np.float64).reshape(-1, 2)
    return Greedy(
        order=np.array(order, dtype=np.int64),
        gain=np.array(gains, dtype=np.float64),
        added=pairs[:, 0],
        added_in_footprint=pairs[:, 1],
        uptake=best,
    )


def best_uptake(
    sites: tuple[np.ndarray, np.ndarray], points: tuple[np.ndarray, np.ndarray], coverage: Coverage
) -> np.ndarray:
    """Best uptake of each demand point over all ``sites`` (what a fixed network reaches)."""
    return np.asarray(_best_uptake(_rows(*sites), _rows(*points), *coverage.args()))


def marginal_yield(
    sites: tuple[np.ndarray, np.ndarray],
    order: np.ndarray,
    points: tuple[np.ndarray, np.ndarray],
    households: np.ndarray,
    coverage: Coverage,
) -> np.ndarray:
    """Households of ``points`` each site of ``order`` adds in turn (as :func:`greedy_sites`).

    A point's households count ``u - best`` where the site's uptake ``u`` beats the best of the
    sites before it, as :func:`greedy_sites` counts a site's ``added``.
    """
    out = np.zeros(len(order), dtype=np.float64)
    best = np.zeros(len(points[0]), dtype=np.float64)
    if not len(best):
        return out
    for i, site in enumerate(np.asarray(order, dtype=np.int64)):
        one = (sites[0][[site]], sites[1][[site]])
        uptake = best_uptake(one, points, coverage)
        out[i] = float((households * np.maximum(uptake - best, 0.0)).sum())
        np.maximum(best, uptake, out=best)
    return out


@dataclass(frozen=True)
class OutreachOptions:
    """Settings of :func:`plan_outreach`.

    Attributes
    ----------
    sites
        Sites to choose (K).
    coverage
        Radius or distance decay.
    footprint_weight
        Objective weight of demand inside the footprint (outside: 1).
    cost_centre, cost_door
        Cost of registering one household at a site or centre, and door to door (USD).
    cost_site
        Fixed cost of opening one site (USD), 0 by default.
    """

    sites: int
    coverage: Coverage = field(default_factory=Coverage)
    footprint_weight: float = DEFAULT_FOOTPRINT_WEIGHT
    cost_centre: float = COST_CENTRE_USD
    cost_door: float = COST_DOOR_USD
    cost_site: float = 0.0

    def __post_init__(self) -> None:
        for name in ("footprint_weight", "cost_centre", "cost_door", "cost_site"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise InputError(f"{name.replace('_', '-')} must be a number >= 0, not {value}")


@dataclass(frozen=True)
class OutreachPlan:
    """The chosen sites, the demand they reach and the figures of the report.

    Attributes
    ----------
    sites
        :data:`SITE_COLUMNS`, one row per chosen site, best first.
    demand
        The demand points with ``in_footprint`` and ``uptake`` (best over the chosen sites).
    centres
        The baseline centres (``name``, ``lon``, ``lat``).
    figures
        JSON-ready figures: the demand (all and in the footprint, what could not be placed);
        the reach of the plan; that of the baseline, the whole network (``reach``) and its
        ``K`` centres chosen greedily (``k_centres_reach``: the same number of teams sent to
        tehsil headquarters); the costs of each against door to door.
    """

    sites: pd.DataFrame
    demand: pd.DataFrame
    centres: pd.DataFrame
    figures: dict[str, Any]


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole > 0 else None


def _costs(reach: float, sites: int, options: OutreachOptions) -> dict[str, float | None]:
    """Cost of registering ``reach`` households at ``sites`` sites, and door to door."""
    total = reach * options.cost_centre + sites * options.cost_site
    door = reach * options.cost_door
    return {
        "cost_total": round(total, 2),
        "cost_per_household": round(total / reach, 4) if reach > 0 else None,
        "door_to_door_total": round(door, 2),
        "door_to_door_per_household": options.cost_door,
        "saving_vs_door_to_door": round(door - total, 2),
    }


#: Rejected candidate rows named in the error of :func:`check_sites`.
REJECTED_NAMED = 5


def check_sites(k: int, candidates: int, rejected: pd.DataFrame | None = None) -> None:
    """Refuse ``k`` sites out of fewer ``candidates`` (no silent fallback to all of them).

    ``rejected``: the candidate rows left out (``row``, ``reason``), named in the error, since
    they are why there are fewer candidates than the file has rows.

    Raises
    ------
    InputError
        ``k`` larger than ``candidates``.
    """
    if k > candidates:
        why = ""
        if rejected is not None and len(rejected):
            named = "; ".join(
                f"row {row}: {reason}"
                for row, reason in zip(
                    rejected["row"][:REJECTED_NAMED],
                    rejected["reason"][:REJECTED_NAMED],
                    strict=True,
                )
            )
            more = (
                f" and {len(rejected) - REJECTED_NAMED} more"
                if len(rejected) > REJECTED_NAMED
                else ""
            )
            why = f" ({len(rejected)} row(s) of the sites were left out: {named}{more})"
        raise InputError(
            f"--sites {k} is more than the {candidates} candidate sites{why}; "
            f"choose at most {candidates} or give more candidates (--sites-csv)"
        )


def plan_outreach(
    demand: Demand,
    candidates: pd.DataFrame,
    centres: pd.DataFrame,
    options: OutreachOptions,
    in_footprint: np.ndarray | None = None,
    referred: np.ndarray | None = None,
) -> OutreachPlan:
    """Choose the sites and report their yields, the baseline and the costs.

    Parameters
    ----------
    demand
        :func:`~rahat.engine.gap.outreach_inputs.demand_points`' result.
    candidates
        ``name``, ``lon``, ``lat`` of the candidate sites
        (:func:`~rahat.engine.gap.outreach_inputs.candidate_sites`).
    centres
        The baseline network (``lon``, ``lat``): one centre per tehsil.
    options
        K, coverage, footprint weight and costs.
    in_footprint
        Which demand points lie in the footprint (``None``: no footprint given).
    referred
        Which demand points are referred households (``None``: none given); they weigh
        ``footprint_weight`` as demand in the footprint does.

    Returns
    -------
    OutreachPlan
        The plan.

    Raises
    ------
    InputError
        K larger than the candidate sites, or no demand to reach.
    """
    check_sites(options.sites, len(candidates))
    points = demand.points
    households = points["households"].to_numpy(np.float64)
    total = float(households.sum())
    if total <= 0:
        raise InputError("the gap table expects no unregistered poor household: nothing to plan")
    fp = np.zeros(len(points), bool) if in_footprint is None else np.asarray(in_footprint, bool)
    ref = np.zeros(len(points), bool) if referred is None else np.asarray(referred, bool)
    weight = np.where(fp | ref, households * options.footprint_weight, households)
    xy = (points["lon"].to_numpy(np.float64), points["lat"].to_numpy(np.float64))
    c_xy = (candidates["lon"].to_numpy(np.float64), candidates["lat"].to_numpy(np.float64))
    chosen = greedy_sites(
        c_xy, xy, households, options.sites, options.coverage, weight=weight, in_footprint=fp
    )
    picked = candidates.iloc[chosen.order]
    ref_xy = (xy[0][ref], xy[1][ref])
    ref_added = marginal_yield(c_xy, chosen.order, ref_xy, households[ref], options.coverage)
    cumulative = np.cumsum(chosen.added)
    sites = pd.DataFrame(
        {
            "rank": np.arange(1, len(chosen.order) + 1),
            "name": picked["name"].astype(str).to_numpy(),
            "lon": picked["lon"].to_numpy(np.float64),
            "lat": picked["lat"].to_numpy(np.float64),
            "district": site_districts(*(a[chosen.order] for a in c_xy)),
            "expected_yield": chosen.added,
            "cumulative_yield": cumulative,
            "cumulative_share": cumulative / total,
            "in_footprint_yield": chosen.added_in_footprint,
            "referred_yield": ref_added,
        }
    )[list(SITE_COLUMNS)]
    centre_xy = (centres["lon"].to_numpy(np.float64), centres["lat"].to_numpy(np.float64))
    base = best_uptake(centre_xy, xy, options.coverage)
    k_centres = min(options.sites, len(centres))
    k_best = greedy_sites(centre_xy, xy, households, k_centres, options.coverage, weight=weight)
    reach, base_reach = float(chosen.added.sum()), float((households * base).sum())
    demand_fp = float(households[fp].sum())
    reach_fp = float(chosen.added_in_footprint.sum())
    base_fp = float((households * base)[fp].sum())
    footprint = in_footprint is not None
    figures: dict[str, Any] = {
        "coverage": options.coverage.describe(),
        "demand": {
            "households": round(total, 1),
            "points": len(points),
            "in_footprint": round(demand_fp, 1) if footprint else None,
            "districts": demand.units,
            "unmatched_districts": {
                str(k): round(float(v), 1) for k, v in demand.unmatched.items()
            },
            "unmatched_households": round(float(demand.unmatched.sum()), 1),
            "districts_at_one_point": list(demand.empty_units),
            "places_outside_districts": demand.places_outside,
            "referred": round(float(households[ref].sum()), 1) if referred is not None else None,
        },
        "candidates": len(candidates),
        "sites_requested": options.sites,
        "sites_planned": len(sites),
        "plan": {
            "reach": round(reach, 1),
            "share": _share(reach, total),
            "reach_in_footprint": round(reach_fp, 1) if footprint else None,
            "share_in_footprint": _share(reach_fp, demand_fp) if footprint else None,
            "reach_referred": round(float(ref_added.sum()), 1) if referred is not None else None,
            **_costs(reach, len(sites), options),
        },
        "baseline": {
            "name": "one registration centre per tehsil",
            "centres": len(centres),
            "reach": round(base_reach, 1),
            "share": _share(base_reach, total),
            "reach_in_footprint": round(base_fp, 1) if footprint else None,
            "share_in_footprint": _share(base_fp, demand_fp) if footprint else None,
            **_costs(base_reach, len(centres), options),
            "k_centres": k_centres,
            "k_centres_reach": round(float(k_best.added.sum()), 1),
        },
        "plan_vs_baseline": _share(reach, base_reach),
        "plan_vs_k_centres": _share(reach, float(k_best.added.sum())),
        "footprint_weight": options.footprint_weight if footprint else None,
        "costs_usd": {
            "centre_per_household": options.cost_centre,
            "door_per_household": options.cost_door,
            "per_site": options.cost_site,
        },
    }
    if len(sites) < options.sites:
        figures["note"] = (
            f"only {len(sites)} of {options.sites} sites planned: no other candidate reaches "
            "any household not already reached"
        )
    demand_out = points.assign(in_footprint=fp, referred=ref, uptake=chosen.uptake)
    return OutreachPlan(
        sites=sites, demand=demand_out, centres=centres[["name", "lon", "lat"]], figures=figures
    )
