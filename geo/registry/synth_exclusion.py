"""Who the demo NSER misses: the exclusion model of stage 3 of ``synth.synthesize``.

A household is left out of the registry with probability ``sigmoid(a[province] + tilt)``. The
tilt adds the drivers *Mind the Gap* names (World Bank review of the NSER):

* distance to the district's nearest registration centre (one per tehsil,
  :mod:`rahat.geo.registration_centres`), per sd of ``log1p(km)``;
* remoteness: distance to the nearest settlement, per sd of ``log1p(km)``;
* female headship, more so with children under five (documents, mobility);
* poverty, per sd of ``-PMT``.

The slopes of the first three are assumptions (:mod:`rahat.geo.registry.synth_calibration`).
Three facts are held: each province's exclusion rate (:func:`province_exclusion`: 26.2 % in
Balochistan, 10.5 % in Khyber Pakhtunkhwa, 84 % national coverage) through the intercepts
``a``, and the share of bottom-40 % households missing (:data:`~synth_calibration.B40_EXCLUSION`,
about 15 %) through the poverty slope, solved by bisection on a systematic subsample. Poor
households live farther from centres, so the solved slope comes out small or negative: given
where they live, BISP's outreach reached the poor somewhat better than the rest.
"""

from __future__ import annotations

import numpy as np

from rahat.geo.registry import synth_calibration as cal
from rahat.geo.registry.synth_households import _Columns, _sigmoid

_SOLVER_BINS = 2048
#: Households of the subsample the poverty slope is solved on.
_SUBSAMPLE = 400_000


def province_exclusion(households: dict[str, float]) -> dict[str, float]:
    """Return the NSER exclusion rate of each province.

    Balochistan and Khyber Pakhtunkhwa take their published *Mind the Gap* rates; the other
    provinces share one rate (times their documented relative factor) solved so that the
    household-weighted national coverage is :data:`~synth_calibration.NATIONAL_COVERAGE`.

    Parameters
    ----------
    households
        Households (or shares) per province.

    Returns
    -------
    dict
        Exclusion rate (0-1) per province.
    """
    total = sum(households.values())
    target = (1.0 - cal.NATIONAL_COVERAGE) * total
    published = sum(households.get(p, 0.0) * rate for p, rate in cal.PUBLISHED_EXCLUSION.items())
    others = {p: h for p, h in households.items() if p not in cal.PUBLISHED_EXCLUSION}
    relative = sum(h * cal.UNPUBLISHED_EXCLUSION_RELATIVE.get(p, 1.0) for p, h in others.items())
    base = (target - published) / relative if relative > 0 else 0.0
    rates = {p: cal.PUBLISHED_EXCLUSION[p] for p in households if p in cal.PUBLISHED_EXCLUSION}
    for p in others:
        rates[p] = float(np.clip(base * cal.UNPUBLISHED_EXCLUSION_RELATIVE.get(p, 1.0), 0, 1))
    return rates


def solve_intercept(tilt: np.ndarray, target: float) -> float:
    """Return ``a`` with ``mean(sigmoid(a + tilt)) == target`` (binned, bisection)."""
    if target <= 0.0:
        return -np.inf
    if target >= 1.0:
        return np.inf
    lo_t, hi_t = float(tilt.min()), float(tilt.max())
    counts, edges = np.histogram(tilt, bins=_SOLVER_BINS, range=(lo_t, hi_t + 1e-6))
    centres = 0.5 * (edges[:-1] + edges[1:])
    weights = counts / counts.sum()
    lo, hi = -40.0, 40.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if float((weights * _sigmoid(mid + centres)).sum()) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _standardised(values: np.ndarray) -> tuple[np.float32, np.float32]:
    """``(mean, 1 / sd)`` of ``values`` as float32 (``1`` for a constant array)."""
    mean = float(values.mean(dtype=np.float64))
    sd = float(values.std(dtype=np.float64))
    return np.float32(mean), np.float32(1.0 / sd if sd > 0 else 1.0)


def driver_tilt(cols: _Columns) -> tuple[np.ndarray, np.ndarray]:
    """Return the tilt of the fixed drivers and the standardised poverty of every household.

    Returns
    -------
    tuple of numpy.ndarray
        ``(tilt, poverty)``, float32: the logit tilt of distance to a centre, remoteness and
        female headship, and ``-(PMT - mean) / sd`` (higher: poorer).
    """
    c_mean, c_scale = _standardised(cols.centre)
    r_mean, r_scale = _standardised(cols.remote)
    p_mean, p_scale = _standardised(cols.pmt_score)
    tilt = (cols.centre - c_mean) * (c_scale * np.float32(cal.EXCLUSION_CENTRE_TILT))
    tilt += (cols.remote - r_mean) * (r_scale * np.float32(cal.EXCLUSION_REMOTE_TILT))
    female = cols.female_headed
    tilt += female * np.float32(cal.EXCLUSION_FEMALE_HEAD_TILT)
    tilt += (female & (cols.children_under5 > 0)) * np.float32(cal.EXCLUSION_FEMALE_CHILDREN_TILT)
    poverty = (p_mean - cols.pmt_score) * p_scale
    return tilt, poverty


def solve_poverty_tilt(
    tilt: np.ndarray,
    poverty: np.ndarray,
    low: np.ndarray,
    provinces: list[tuple[slice, float]],
) -> float:
    """Return the poverty slope that leaves :data:`~synth_calibration.B40_EXCLUSION` out.

    For a slope ``b`` each province's intercept is solved to its rate (``provinces``: its rows
    and rate), and the expected exclusion of the bottom 40 % (``low``) follows; it rises with
    ``b``, so ``b`` is found by bisection. Solved on a systematic subsample of at most
    :data:`_SUBSAMPLE` households of each province: a fixed, deterministic choice.
    """
    parts = []
    for rows, rate in provinces:
        step = max(1, (rows.stop - rows.start) // _SUBSAMPLE)
        sub = slice(rows.start, rows.stop, step)
        parts.append((tilt[sub], poverty[sub], low[sub], rate))
    if not any(part[2].any() for part in parts):
        return 0.0
    weights = [
        (rows.stop - rows.start) / max(len(part[0]), 1)
        for (rows, _), part in zip(provinces, parts, strict=True)
    ]

    def b40_exclusion(slope: float) -> float:
        missed = poor = 0.0
        for (t, p, is_low, rate), weight in zip(parts, weights, strict=True):
            if not len(t):
                continue
            shifted = t + np.float32(slope) * p
            intercept = solve_intercept(shifted, rate)
            missed += weight * float(_sigmoid(intercept + shifted[is_low]).sum())
            poor += weight * float(is_low.sum())
        return missed / poor

    lo, hi = cal.EXCLUSION_POVERTY_TILT_RANGE
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        if b40_exclusion(mid) < cal.B40_EXCLUSION:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
