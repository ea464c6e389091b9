"""The demo households of one district: stage 1 of ``synth.synthesize``.

Points inside the district from its settlement mixture, tehsils, urban status and
remoteness, a welfare latent, household size and members, dwelling, livelihood and survey
dates, written into preallocated :class:`_Columns`; and the pseudonymous household ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from rahat.geo.registry import synth_calibration as cal
from rahat.geo.registry.synth_plan import _KM_PER_DEG_LAT, _KM_PER_DEG_LON, _District

_MAX_GAUSSIAN_ROUNDS = 8
#: Cluster codes of one district (more than the settlements near any district).
CLUSTERS_PER_DISTRICT = 10_000
_MAX_ROUNDS = 10_000
_ID_BITS = (1 << 53) - 1
_ID_MASK = np.uint64(_ID_BITS)


def _mix53(x: np.ndarray) -> np.ndarray:
    """Bijective 53-bit splitmix-style mixer (uint64 in, uint64 < 2**53 out, 0 -> 0).

    Xor-shifts and odd multiplications modulo ``2**53`` are invertible, so distinct inputs
    below ``2**53`` give distinct outputs.
    """
    x = x & _ID_MASK
    x = ((x ^ (x >> np.uint64(26))) * np.uint64(0xBF58476D1CE4E5B9 & _ID_BITS)) & _ID_MASK
    x = ((x ^ (x >> np.uint64(24))) * np.uint64(0x94D049BB133111EB & _ID_BITS)) & _ID_MASK
    return x ^ (x >> np.uint64(27))


def household_ids(seed: int, start: int, count: int) -> np.ndarray:
    """Return pseudonymous household ids for running indices ``start .. start + count - 1``.

    The ids are a keyed bijective mix of the running index, so they are unique for any
    ``count`` below ``2**40`` and stable for a seed. They are positive and below ``2**53``, so
    they survive JSON and JavaScript numbers and float64 casts exactly.

    Parameters
    ----------
    seed
        Generator seed (the key).
    start, count
        First running index and number of ids.

    Returns
    -------
    numpy.ndarray
        ``int64`` ids in ``[1, 2**53)``.
    """
    key = np.array([seed & ((1 << 64) - 1)], np.uint64) ^ np.uint64(0x5851F42D4C957F2D)
    key = _mix53(key) % np.uint64(_ID_BITS - (1 << 41)) + np.uint64(1)
    index = np.arange(start, start + count, dtype=np.uint64)
    return _mix53(key + index).astype(np.int64)


def _logit(p: float | np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    return np.log(p) - np.log1p(-p)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _sample_points(d: _District, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` points strictly inside the district polygon from its mixture."""
    import shapely

    weights = np.append(d.comp_weight, d.uniform_weight)
    counts = rng.multinomial(n, weights / weights.sum())
    comp = np.repeat(np.arange(len(weights), dtype=np.int32), counts)
    n_gauss = len(d.comp_weight)
    lon = np.empty(n)
    lat = np.empty(n)
    pending = np.arange(n)
    x0, y0, x1, y1 = d.bounds
    for round_ in range(_MAX_ROUNDS):
        if round_ == _MAX_GAUSSIAN_ROUNDS:  # give up on stubborn Gaussian draws: go uniform
            comp[pending] = n_gauss
        c = comp[pending]
        gauss = c < n_gauss
        cg = c[gauss]
        x = np.empty(len(pending))
        y = np.empty(len(pending))
        x[gauss] = d.comp_lon[cg] + d.comp_sx[cg] * rng.standard_normal(len(cg))
        y[gauss] = d.comp_lat[cg] + d.comp_sy[cg] * rng.standard_normal(len(cg))
        nu = len(pending) - len(cg)
        x[~gauss] = rng.uniform(x0, x1, nu)
        y[~gauss] = rng.uniform(y0, y1, nu)
        ok = shapely.contains_xy(d.geometry, x, y)
        if d.also_inside is not None:
            ok[ok] = shapely.contains_xy(d.also_inside, x[ok], y[ok])
        lon[pending[ok]] = x[ok]
        lat[pending[ok]] = y[ok]
        pending = pending[~ok]
        if not len(pending):
            return lon, lat
    raise RuntimeError(f"could not place households inside district {d.name}")  # pragma: no cover


def _assign_tehsils(
    d: _District, lon: np.ndarray, lat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return tehsil and tehsil-P-code category codes (-1: none) for points of one district."""
    import shapely

    n = len(lon)
    tehsil = np.full(n, -1, np.int16)
    tpcode = np.full(n, -1, np.int16)
    if d.tehsil_geoms:
        pending = np.arange(n)
        for geom, code, pcode in zip(
            d.tehsil_geoms, d.tehsil_codes, d.tehsil_pcode_codes, strict=True
        ):
            if not len(pending):
                break
            hit = shapely.contains_xy(geom, lon[pending], lat[pending])
            tehsil[pending[hit]] = code
            tpcode[pending[hit]] = pcode
            pending = pending[~hit]
        if len(pending):  # on a line between two of its tehsils: the nearest one
            points = shapely.points(lon[pending], lat[pending])
            dist = np.stack([shapely.distance(g, points) for g in d.tehsil_geoms])
            nearest = dist.argmin(axis=0)
            tehsil[pending] = d.tehsil_codes[nearest]
            tpcode[pending] = d.tehsil_pcode_codes[nearest]
    elif len(d.sector_codes):
        angle = np.arctan2(lat - d.centre[1], lon - d.centre[0])
        k = len(d.sector_codes)
        sector = np.floor((angle + np.pi) / (2 * np.pi) * k).astype(np.int64) % k
        tehsil[:] = d.sector_codes[sector]
    return tehsil, tpcode


def _nearest_settlement(
    d: _District, lon: np.ndarray, lat: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return km to the nearest settlement, whether the point is urban, and which settlement.

    The settlement is its index among the district's nearby ones: the household's village
    cluster.
    """
    coslat = np.float32(np.cos(np.radians(d.centre[1])))
    best = np.full(len(lon), np.inf, np.float32)
    ratio = np.full(len(lon), np.inf, np.float32)
    nearest = np.zeros(len(lon), np.int32)
    x = lon.astype(np.float32)
    y = lat.astype(np.float32)
    places = zip(d.near_lon, d.near_lat, d.near_radius_km, strict=True)
    for i, (sx, sy, radius) in enumerate(places):
        dx = (x - np.float32(sx)) * (coslat * np.float32(_KM_PER_DEG_LON))
        dy = (y - np.float32(sy)) * np.float32(_KM_PER_DEG_LAT)
        d2 = dx * dx + dy * dy
        nearest[d2 < best] = i
        np.minimum(best, d2, out=best)
        np.minimum(ratio, d2 / np.float32(radius * radius), out=ratio)
    return np.sqrt(best), ratio <= 1.0, nearest


def _km_to_nearest(
    d: _District, lon: np.ndarray, lat: np.ndarray, to_lon: np.ndarray, to_lat: np.ndarray
) -> np.ndarray:
    """Return km (equirectangular at the district's latitude) to the nearest of some points."""
    coslat = np.float32(np.cos(np.radians(d.centre[1])))
    best = np.full(len(lon), np.inf, np.float32)
    x = lon.astype(np.float32)
    y = lat.astype(np.float32)
    for sx, sy in zip(to_lon, to_lat, strict=True):
        dx = (x - np.float32(sx)) * (coslat * np.float32(_KM_PER_DEG_LON))
        dy = (y - np.float32(sy)) * np.float32(_KM_PER_DEG_LAT)
        np.minimum(best, dx * dx + dy * dy, out=best)
    return np.sqrt(best)


# ------------------------------------------------------------------------------------------
# Generation
# ------------------------------------------------------------------------------------------


@dataclass
class _Columns:
    """Preallocated output columns (filled per district) and working arrays.

    Each field's ``metadata["dtype"]`` is the dtype :meth:`empty` allocates.
    """

    household_id: np.ndarray = field(metadata={"dtype": np.int64})
    lon: np.ndarray = field(metadata={"dtype": np.float64})
    lat: np.ndarray = field(metadata={"dtype": np.float64})
    province: np.ndarray = field(metadata={"dtype": np.int8})
    district: np.ndarray = field(metadata={"dtype": np.int16})
    tehsil: np.ndarray = field(metadata={"dtype": np.int16})
    district_pcode: np.ndarray = field(metadata={"dtype": np.int8})
    tehsil_pcode: np.ndarray = field(metadata={"dtype": np.int16})
    #: The welfare latent until :func:`_calibrate_pmt` maps it to PMT scores.
    pmt_score: np.ndarray = field(metadata={"dtype": np.float32})
    household_size: np.ndarray = field(metadata={"dtype": np.int16})
    children_under5: np.ndarray = field(metadata={"dtype": np.int16})
    elderly: np.ndarray = field(metadata={"dtype": np.int16})
    disabled: np.ndarray = field(metadata={"dtype": np.int16})
    female_headed: np.ndarray = field(metadata={"dtype": np.bool_})
    dwelling: np.ndarray = field(metadata={"dtype": np.int8})
    livelihood: np.ndarray = field(metadata={"dtype": np.int8})
    last_updated: np.ndarray = field(metadata={"dtype": "datetime64[s]"})
    registered_on: np.ndarray = field(metadata={"dtype": "datetime64[s]"})
    programmes: np.ndarray = field(metadata={"dtype": np.int8})
    registered: np.ndarray = field(metadata={"dtype": np.bool_})
    #: log1p(km to the nearest settlement), a working array.
    remote: np.ndarray = field(metadata={"dtype": np.float32})
    #: log1p(km to the district's nearest registration centre), a working array.
    centre: np.ndarray = field(metadata={"dtype": np.float32})
    #: Within a settlement's urban radius (population file only).
    urban: np.ndarray = field(metadata={"dtype": np.bool_})
    #: Village cluster: district code * CLUSTERS_PER_DISTRICT + nearest settlement's index
    #: (population file only; the survey's primary sampling units).
    cluster: np.ndarray = field(metadata={"dtype": np.int32})

    @classmethod
    def empty(cls, n: int) -> _Columns:
        """Allocate every column for ``n`` households (uninitialised)."""
        return cls(**{f.name: np.empty(n, f.metadata["dtype"]) for f in fields(cls)})


def _livelihood_shares(d: _District, urban: bool) -> np.ndarray:
    if urban:
        shares = np.array(cal.LIVELIHOOD_URBAN, np.float64)
        extra = cal.URBAN_REMITTANCES.get(d.province, 0.0)
        shares[6] += extra
        shares[3] -= extra
    else:
        shares = np.array(cal.LIVELIHOOD_RURAL[d.province], np.float64)
    if d.coastal:
        fishing = cal.COASTAL_FISHING[0 if not urban else 1]
        shares = shares * (1.0 - fishing)
        shares[2] += fishing
    return shares / shares.sum()


def _draw_livelihood(
    d: _District, urban: np.ndarray, welfare: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    log_base = np.log(
        np.stack([_livelihood_shares(d, False), _livelihood_shares(d, True)]) + 1e-12
    ).astype(np.float32)
    slope = np.asarray(cal.LIVELIHOOD_WELFARE_SLOPE, np.float32)
    logits = log_base[urban.astype(np.intp)] + welfare[:, None] * slope[None, :]
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(urban), dtype=np.float32) * cum[:, -1]
    return (cum < u[:, None]).sum(axis=1).clip(0, len(slope) - 1).astype(np.int8)


def _draw_dwelling(
    d: _District, urban: np.ndarray, welfare: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    kacha_r, semi_r = cal.DWELLING_RURAL[d.province]
    kacha_u, semi_u = cal.DWELLING_URBAN[d.province]
    cut1 = np.where(urban, _logit(kacha_u), _logit(kacha_r)).astype(np.float32)
    cut2 = np.where(urban, _logit(kacha_u + semi_u), _logit(kacha_r + semi_r)).astype(np.float32)
    u = rng.random(len(urban), dtype=np.float32).clip(1e-7, 1 - 1e-7)
    eta = np.log(u) - np.log1p(-u) + np.float32(cal.DWELLING_WELFARE_SLOPE) * welfare
    return ((eta >= cut1).astype(np.int8) + (eta >= cut2).astype(np.int8)).astype(np.int8)


def _draw_dates(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return (last_updated, first registration) as datetime64[s]."""
    waves = (cal.SURVEY_2011, cal.DESK_REGISTRATION, cal.UPDATE_2021)
    wave = rng.choice(3, size=n, p=np.asarray(cal.UPDATE_WAVE_SHARES))
    start = np.array([w[0] for w in waves], "datetime64[D]")
    span = np.array([(w[1] - w[0]).astype(int) + 1 for w in waves])
    u = rng.random((3, n))
    last = start[wave] + (u[0] * span[wave]).astype(np.int64).astype("timedelta64[D]")
    s0, s1 = (np.asarray(d, dtype="datetime64[D]") for d in cal.SURVEY_2011)
    first_2011 = (wave == 0) | (u[1] < cal.FIRST_REGISTERED_2011)
    until = np.minimum(last, s1)
    in_survey = s0 + (u[2] * ((until - s0).astype(np.int64) + 1)).astype(np.int64).astype(
        "timedelta64[D]"
    )
    at_desk = last - (u[2] * 30).astype(np.int64).astype("timedelta64[D]")
    first = np.where(first_2011, in_survey, at_desk)
    return last.astype("datetime64[s]"), first.astype("datetime64[s]")


def _fill_district(
    d: _District, cols: _Columns, start: int, n: int, seed: int, rng: np.random.Generator
) -> None:
    """Stage 1: everything but the PMT calibration and registration, for one district."""
    s = slice(start, start + n)
    lon, lat = _sample_points(d, n, rng)
    cols.lon[s] = lon
    cols.lat[s] = lat
    cols.household_id[s] = household_ids(seed, start, n)
    cols.province[s] = d.province_code
    cols.district[s] = d.district_code
    cols.district_pcode[s] = d.district_pcode_code
    cols.tehsil[s], cols.tehsil_pcode[s] = _assign_tehsils(d, lon, lat)
    km, urban, nearest = _nearest_settlement(d, lon, lat)
    remote = np.log1p(km)
    cols.remote[s] = remote
    cols.centre[s] = np.log1p(_km_to_nearest(d, lon, lat, d.drc_lon, d.drc_lat))
    cols.urban[s] = urban
    cols.cluster[s] = d.district_code * CLUSTERS_PER_DISTRICT + nearest

    welfare = (
        np.float32(cal.PROVINCE_WELFARE[d.province] + cal.DEVELOPMENT_WELFARE * d.development)
        + np.float32(cal.URBAN_WELFARE) * urban
        + np.float32(cal.REMOTE_WELFARE) * remote
        + np.float32(cal.WELFARE_SIGMA) * rng.standard_normal(n, dtype=np.float32)
    )
    cols.pmt_score[s] = welfare

    # Poorer households are larger; the tilt is normalised so the district mean size holds.
    tilt = np.exp(cal.SIZE_WELFARE_SLOPE * (welfare - welfare.mean(dtype=np.float64)))
    lam = (
        (d.mean_size - 1.0)
        * (tilt / tilt.mean(dtype=np.float64))
        * rng.gamma(cal.SIZE_GAMMA_SHAPE, 1.0 / cal.SIZE_GAMMA_SHAPE, n)
    )
    size = np.minimum(1 + rng.poisson(lam), 60)
    p_child = np.clip(cal.UNDER5_SHARE[0] + cal.UNDER5_SHARE[1] * welfare, 0.02, 0.4)
    children = rng.binomial(size, p_child)
    elderly = rng.binomial(size - children, cal.ELDERLY_SHARE / (1.0 - cal.UNDER5_SHARE[0]))
    cols.household_size[s] = size
    cols.children_under5[s] = children
    cols.elderly[s] = elderly
    cols.disabled[s] = rng.binomial(size, cal.DISABLED_SHARE)
    cols.female_headed[s] = rng.random(n, dtype=np.float32) < cal.FEMALE_HEADED[d.province]
    cols.dwelling[s] = _draw_dwelling(d, urban, welfare, rng)
    cols.livelihood[s] = _draw_livelihood(d, urban, welfare, rng)
    cols.last_updated[s], cols.registered_on[s] = _draw_dates(n, rng)


def _calibrate_pmt(welfare: np.ndarray) -> None:
    """Map the welfare latent to PMT scores in place so 40 % score at or below the cut-off."""
    k = int(cal.SHARE_AT_OR_BELOW_CUTOFF * (len(welfare) - 1))
    quantile = float(np.partition(welfare, k)[k])
    shift = np.float32(_logit(cal.PMT_CUTOFF / 100.0) - quantile)
    welfare += shift
    # 100 * sigmoid, rounded to 0.01, in place
    np.multiply(welfare, np.float32(0.5), out=welfare)
    np.tanh(welfare, out=welfare)
    np.multiply(welfare, np.float32(50.0), out=welfare)
    np.add(welfare, np.float32(50.0), out=welfare)
    np.round(welfare, 2, out=welfare)
