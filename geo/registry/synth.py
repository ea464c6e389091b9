"""Census-calibrated synthetic household population and demo registry.

:func:`synthesize` draws a population of households over the 156 real districts and
:func:`write_demo` writes it as ``population.parquet`` (every household, with a ``registered``
column) and ``registry.parquet`` (the registered subset, the demo NSER).

How it is calibrated (numbers in :mod:`rahat.geo.registry.synth_calibration`):

* Households per district follow the 2023 census counts (documented estimates for AJK and GB),
  allocated with largest-remainder rounding so the total is exact.
* Every household lies strictly inside its real district polygon (rejection sampling with
  ``shapely.contains_xy``), denser around GeoNames settlements and the district centre.
* Sindh households carry the OCHA COD-AB tehsil that contains them, always one of their own
  district's: they are placed where the OSM district and its COD-AB tehsils overlap (Keamari,
  which COD-AB predates, has no tehsils and its households none). Elsewhere there are no
  tehsil polygons: PBS tehsil names are assigned by angular sector around the district
  centre. These tehsils are **synthetic**; a district without matching names has none.
* A welfare latent (province, census development indicators, urban, remoteness) maps to the
  PMT score, shifted so that 40 % of households score at or below 32.
* NSER exclusion follows *Mind the Gap*: 16 % nationally, 26.2 % in Balochistan, 10.5 % in
  Khyber Pakhtunkhwa and about 15 % of the bottom 40 %, driven by distance to the nearest
  registration centre, remoteness, female headship and poverty
  (:mod:`rahat.geo.registry.synth_exclusion`); province totals hold exactly in expectation.
* Each household has a CNIC-like number whose leading digits follow its province and
  district (a soft, synthetic rule) and a mobile number, some shared
  (:mod:`rahat.geo.registry.synth_identity`); the files carry only their tokens.

Results are deterministic for a seed: each district draws from its own stream of a
:class:`numpy.random.SeedSequence`, so the output does not depend on chunking.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rahat.geo.errors import InputError, TooLargeError
from rahat.geo.registry import synth_calibration as cal
from rahat.geo.registry.schema import (
    PROGRAMME_SEPARATOR,
    PROGRAMMES,
    REGISTERED_COLUMN,
    Dwelling,
    Livelihood,
)
from rahat.geo.registry.synth_exclusion import (
    driver_tilt,
    province_exclusion,
    solve_intercept,
    solve_poverty_tilt,
)
from rahat.geo.registry.synth_households import (
    _calibrate_pmt,
    _Columns,
    _fill_district,
    _sigmoid,
    household_ids,
)
from rahat.geo.registry.synth_plan import _District, _Plan, _plan

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MAX_HOUSEHOLDS",
    "POPULATION_FILE",
    "REGISTRY_FILE",
    "household_ids",
    "programme_categories",
    "province_exclusion",
    "synthesize",
    "write_demo",
]

#: Largest population :func:`synthesize` accepts.
MAX_HOUSEHOLDS = 100_000_000

#: File names written by :func:`write_demo`.
POPULATION_FILE = "population.parquet"
REGISTRY_FILE = "registry.parquet"
SURVEY_FILE = "survey.parquet"
#: Population columns a registry does not have: the household's urban status and its village
#: cluster (the survey's primary sampling unit).
URBAN_COLUMN = "urban"
CLUSTER_COLUMN = "cluster"
POPULATION_ONLY: tuple[str, ...] = (URBAN_COLUMN, CLUSTER_COLUMN)

Progress = Callable[[str, float], None]


def _allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` in proportion to ``weights`` with largest-remainder rounding."""
    quota = total * weights / weights.sum()
    counts = np.floor(quota).astype(np.int64)
    short = total - int(counts.sum())
    if short:
        order = np.argsort(-(quota - counts), kind="stable")
        counts[order[:short]] += 1
    return counts


_PROGRAMME_BIT = {name: 1 << i for i, name in enumerate(PROGRAMMES)}


def programme_categories() -> tuple[str, ...]:
    """Return the ``programmes`` categories: every sorted ``|``-joined combination, by bitmask.

    Category ``k`` holds the programmes whose bit (their position in
    :data:`~rahat.geo.registry.schema.PROGRAMMES`) is set in ``k``; category 0 is ``""``.
    """
    return tuple(
        PROGRAMME_SEPARATOR.join(sorted(p for p in PROGRAMMES if mask & _PROGRAMME_BIT[p]))
        for mask in range(1 << len(PROGRAMMES))
    )


def _register_district(
    d: _District,
    cols: _Columns,
    s: slice,
    intercept: float,
    tilt: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Stage 3 for one district: registration, programme enrolments, registration dates."""
    n = len(tilt)
    excluded = rng.random(n) < _sigmoid(intercept + tilt)
    registered = ~excluded
    cols.registered[s] = registered
    pmt = cols.pmt_score[s]
    u = rng.random((5, n), dtype=np.float32)
    low = pmt <= cal.PMT_CUTOFF
    kafaalat = registered & (u[0] < np.where(low, *cal.KAFAALAT_TAKE_UP))
    taleemi = kafaalat & (cols.household_size[s] >= 4) & (u[1] < cal.TALEEMI_TAKE_UP)
    nashonuma = kafaalat & (cols.children_under5[s] > 0) & (u[2] < cal.NASHONUMA_TAKE_UP)
    sehat = registered & (u[3] < cal.SEHAT_TAKE_UP[d.province])
    zakat = registered & (pmt <= cal.ZAKAT[0]) & (u[4] < cal.ZAKAT[1])
    mask = (
        kafaalat * _PROGRAMME_BIT["bisp_kafaalat"]
        + taleemi * _PROGRAMME_BIT["bisp_taleemi"]
        + nashonuma * _PROGRAMME_BIT["bisp_nashonuma"]
        + sehat * _PROGRAMME_BIT["sehat_card"]
        + zakat * _PROGRAMME_BIT["zakat"]
    )
    cols.programmes[s] = mask.astype(np.int8)
    cols.registered_on[s][excluded] = np.datetime64("NaT")


def _register_all(
    dists: tuple[_District, ...],
    cols: _Columns,
    starts: np.ndarray,
    counts: np.ndarray,
    rngs: list[np.random.Generator],
    report: Progress,
) -> None:
    """Stage 3: register households province by province (:mod:`.synth_exclusion`).

    ``rngs`` are the districts' registration streams; ``starts`` the first row of each
    district (and the total last).
    """
    per_province: dict[str, float] = {}
    for d, n in zip(dists, counts, strict=True):
        per_province[d.province] = per_province.get(d.province, 0.0) + float(n)
    exclusion = province_exclusion(per_province)
    report("registration", 0.0)
    # Districts are sorted by province, so each province is one contiguous slice.
    members: dict[str, list[int]] = {}
    for i, d in enumerate(dists):
        members.setdefault(d.province, []).append(i)
    rows = {p: slice(int(starts[idx[0]]), int(starts[idx[-1] + 1])) for p, idx in members.items()}
    tilt, poverty = driver_tilt(cols)
    low = cols.pmt_score <= np.float32(cal.PMT_CUTOFF)
    slope = solve_poverty_tilt(tilt, poverty, low, [(rows[p], exclusion[p]) for p in members])
    tilt += np.float32(slope) * poverty
    del poverty, low
    done = 0
    for province, idx in members.items():
        s = rows[province]
        if s.stop == s.start:
            continue
        intercept = solve_intercept(tilt[s], exclusion[province])
        for i in idx:
            ds = slice(int(starts[i]), int(starts[i + 1]))
            if ds.stop > ds.start:
                _register_district(dists[i], cols, ds, intercept, tilt[ds], rngs[i])
        done += s.stop - s.start
        report("registration", done / len(cols.registered))


def _check_arguments(n_households: int, seed: int) -> None:
    if isinstance(n_households, bool) or not isinstance(n_households, int | np.integer):
        raise InputError("must be a whole number of households", source="households")
    if n_households < 1:
        raise InputError(f"must be at least 1, got {n_households}", source="households")
    if n_households > MAX_HOUSEHOLDS:
        raise TooLargeError(
            f"{n_households:,} is more than the {MAX_HOUSEHOLDS:,} households the demo "
            "generator makes; ask for fewer",
            source="households",
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(f"must be a whole number >= 0, got {seed!r}", source="seed")


def synthesize(n_households: int, seed: int, *, progress: Progress | None = None) -> pd.DataFrame:
    """Draw a synthetic, census-calibrated household population for Pakistan.

    Parameters
    ----------
    n_households
        Number of households (1 to :data:`MAX_HOUSEHOLDS`); 40 M is national scale.
    seed
        Seed (``>= 0``); the same seed and size give the identical frame.
    progress
        Called as ``progress(stage, fraction)`` while working (stages ``"households"``,
        ``"pmt"``, ``"registration"``, ``"frame"``; fraction 0-1).

    Returns
    -------
    pandas.DataFrame
        One row per household with the registry columns of
        :mod:`rahat.geo.registry.schema` in canonical dtypes, plus the boolean column
        ``registered``. ``registered_on`` is NaT and ``programmes`` is ``""`` for households
        outside the registry. Rows are grouped by province and district.

    Raises
    ------
    InputError
        If ``n_households`` or ``seed`` is not usable; :class:`TooLargeError` above
        :data:`MAX_HOUSEHOLDS`.
    """
    _check_arguments(n_households, seed)
    n_households = int(n_households)
    seed = int(seed)

    def report(stage: str, fraction: float) -> None:
        if progress is not None:
            progress(stage, min(max(fraction, 0.0), 1.0))

    plan = _plan()
    dists = plan.districts
    counts = _allocate(n_households, np.array([d.households for d in dists], np.float64))
    starts = np.concatenate([[0], np.cumsum(counts)])
    streams = np.random.SeedSequence(seed).spawn(len(dists))
    rngs = [[np.random.default_rng(s) for s in ss.spawn(2)] for ss in streams]
    cols = _Columns.empty(n_households)

    report("households", 0.0)
    for d, start, n, (rng, _) in zip(dists, starts[:-1], counts, rngs, strict=True):
        if n:
            _fill_district(d, cols, int(start), int(n), seed, rng)
        report("households", (start + n) / n_households)

    report("pmt", 0.0)
    _calibrate_pmt(cols.pmt_score)
    report("pmt", 1.0)

    _register_all(dists, cols, starts, counts, [r[1] for r in rngs], report)

    report("frame", 0.0)
    frame = _to_frame(plan, cols)
    report("frame", 1.0)
    return frame


def _to_frame(plan: _Plan, cols: _Columns) -> pd.DataFrame:
    import pandas as pd

    def categorical(codes: np.ndarray, categories: tuple[str, ...]) -> pd.Categorical[str]:
        return pd.Categorical.from_codes(codes, categories=pd.Index(categories), validate=False)

    data = {
        "household_id": cols.household_id,
        "lon": cols.lon,
        "lat": cols.lat,
        "province": categorical(cols.province, plan.provinces),
        "district": categorical(cols.district, plan.district_names),
        "tehsil": categorical(cols.tehsil, plan.tehsil_names),
        "district_pcode": categorical(cols.district_pcode, plan.district_pcodes),
        "tehsil_pcode": categorical(cols.tehsil_pcode, plan.tehsil_pcodes),
        "pmt_score": cols.pmt_score,
        "household_size": cols.household_size,
        "children_under5": cols.children_under5,
        "elderly": cols.elderly,
        "disabled": cols.disabled,
        "female_headed": cols.female_headed,
        "dwelling": categorical(cols.dwelling, tuple(v.value for v in Dwelling)),
        "livelihood": categorical(cols.livelihood, tuple(v.value for v in Livelihood)),
        "last_updated": cols.last_updated,
        "programmes": categorical(cols.programmes, programme_categories()),
        "registered_on": cols.registered_on,
        REGISTERED_COLUMN: cols.registered,
        URBAN_COLUMN: cols.urban,
        CLUSTER_COLUMN: cols.cluster,
    }
    return pd.DataFrame(data, copy=False)


def _registered_subset(frame: pd.DataFrame) -> pd.DataFrame:
    """Move the registered rows out of ``frame`` column by column, emptying ``frame``.

    Each column is released as soon as its subset is taken, so the peak memory is one frame
    plus one column rather than two frames.
    """
    import pandas as pd

    mask = frame.pop(REGISTERED_COLUMN).to_numpy()
    for name in POPULATION_ONLY:
        frame.pop(name)
    subset = {name: frame.pop(name)[mask].reset_index(drop=True) for name in list(frame.columns)}
    return pd.DataFrame(subset, copy=False)


def write_demo(
    n_households: int,
    seed: int,
    out_dir: str | Path,
    progress: Progress | None = None,
    *,
    survey_households: int | None = None,
) -> tuple[Path, Path]:
    """Generate a demo population; write its population, survey and registry files.

    Parameters
    ----------
    n_households, seed, progress
        As for :func:`synthesize`.
    out_dir
        Folder to write into (created if missing). Each file is written atomically.
    survey_households
        Households the survey aims at (:func:`~rahat.geo.registry.survey.draw_survey`; default
        :func:`~rahat.geo.registry.survey.default_survey_size`).

    Returns
    -------
    tuple of pathlib.Path
        Paths of the population file (every household, with ``registered``, ``urban`` and
        ``cluster``) and the registry file (registered households only, with the registry's
        columns). The survey is ``survey.parquet`` next to them (:data:`SURVEY_FILE`). Both
        files carry ``cnic_token`` and ``phone_token``; the raw CNICs and phone numbers of
        every household are only in ``identity_demo.csv``, and the secret of the tokens is
        ``RAHAT_IDENTITY_SECRET`` or, when unset, ``identity_secret.hex``
        (:mod:`rahat.geo.registry.synth_identity`).
    """
    from rahat.geo.registry.io import write_registry
    from rahat.geo.registry.survey import default_survey_size, draw_survey, write_survey
    from rahat.geo.registry.synth_identity import add_identity

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = synthesize(n_households, seed, progress=progress)
    if progress is not None:
        progress("writing", 0.0)
    add_identity(frame, seed, out)  # tokens in the frame, raw numbers in their own file
    population = write_registry(frame, out / POPULATION_FILE)
    size = default_survey_size(len(frame)) if survey_households is None else survey_households
    write_survey(draw_survey(frame, size, seed), out / SURVEY_FILE)
    if progress is not None:
        progress("writing", 0.5)
    registry = write_registry(_registered_subset(frame), out / REGISTRY_FILE)
    if progress is not None:
        progress("writing", 1.0)
    return population, registry
