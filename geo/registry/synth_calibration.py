"""Calibration constants of the demo registry generator (:mod:`rahat.geo.registry.synth`).

Two kinds of numbers live here, and each says which it is:

* **Facts** copied from published sources: the 2023 census household counts, household sizes
  and development indicators per district (read from ``data/``, see ``data/SOURCES.md``), the
  BISP cut-off (PMT 32, about 40 % of households at or below it) and the NSER coverage gaps of
  the World Bank's *Mind the Gap* review (84 % of households registered nationally; exclusion
  26.2 % in Balochistan and 10.5 % in Khyber Pakhtunkhwa, higher among remote and poorer
  households).
* **Assumptions** that shape a plausible demo population where no district-level figure was at
  hand (housing, livelihoods, programme take-up, settlement spread). They are round numbers in
  the range of national surveys (PSLM / HIES), not official statistics, and are only meant to
  make the demo data vary by region in the right direction.

The demo registry is synthetic: no row describes a real household.
"""

from __future__ import annotations

import numpy as np

BALOCHISTAN = "Balochistan"
KHYBER_PAKHTUNKHWA = "Khyber Pakhtunkhwa"
PUNJAB = "Punjab"
SINDH = "Sindh"
ISLAMABAD = "Islamabad Capital Territory"
AJK = "Azad Jammu & Kashmir"
GILGIT_BALTISTAN = "Gilgit-Baltistan"

# --------------------------------------------------------------------------------------------
# Facts
# --------------------------------------------------------------------------------------------

#: BISP Kafaalat eligibility cut-off on the PMT score (fact).
PMT_CUTOFF = 32.0
#: Share of households with a PMT score at or below :data:`PMT_CUTOFF` (fact, about 40 %).
SHARE_AT_OR_BELOW_CUTOFF = 0.40

#: Share of all households in the NSER (fact, *Mind the Gap*).
NATIONAL_COVERAGE = 0.84
#: Exclusion (households not in the NSER) by province where *Mind the Gap* gives it (fact).
#: The other provinces share one exclusion rate, solved so that the national coverage holds.
PUBLISHED_EXCLUSION: dict[str, float] = {BALOCHISTAN: 0.262, KHYBER_PAKHTUNKHWA: 0.105}

#: NSER survey waves (fact): the 2010-11 census-style survey and the 2019-21 update.
SURVEY_2011 = (np.datetime64("2010-03-01"), np.datetime64("2011-12-31"))
UPDATE_2021 = (np.datetime64("2019-01-01"), np.datetime64("2021-12-31"))
#: Dynamic registration desks between the waves.
DESK_REGISTRATION = (np.datetime64("2012-01-01"), np.datetime64("2018-12-31"))

#: Development indicators (literacy, improved water, flush toilet shares) for AJK and GB, where
#: the 2023 census published none (assumption close to their statistical yearbooks).
UNPUBLISHED_DEVELOPMENT: dict[str, tuple[float, float, float]] = {
    AJK: (0.76, 0.85, 0.70),
    GILGIT_BALTISTAN: (0.70, 0.80, 0.55),
}

#: Coastal districts where fishing is a common livelihood (fact: they touch the Arabian Sea).
COASTAL_DISTRICTS: frozenset[str] = frozenset(
    {
        "Badin",
        "Sujawal",
        "Thatta",
        "Keamari",
        "Karachi West",
        "Karachi South",
        "Korangi",
        "Malir",
        "Lasbela",
        "Gwadar",
    }
)

# --------------------------------------------------------------------------------------------
# Assumptions: where households live
# --------------------------------------------------------------------------------------------

#: Share of a district's households drawn around its GeoNames settlements is the settlements'
#: population over the district population, clipped to this range.
SETTLEMENT_SHARE_RANGE = (0.0, 0.85)
#: Share drawn around the district centre (representative point); the rest is uniform.
CENTRE_SHARE = 0.15
#: Gaussian spread around a settlement: ``km = SETTLEMENT_SPREAD_KM * (population / 1000) ** 0.4``
#: (about 1 km for a town of 10,000, 10 km for Lahore).
SETTLEMENT_SPREAD_KM = 0.4
#: A household within ``URBAN_RADIUS_FACTOR`` spreads of a settlement is urban.
URBAN_RADIUS_FACTOR = 2.0
#: Gaussian spread around the district centre, as a fraction of the district's size.
CENTRE_SPREAD = 0.12

# --------------------------------------------------------------------------------------------
# Assumptions: welfare (PMT latent, logit scale; higher is better off)
# --------------------------------------------------------------------------------------------

#: Province offset of the welfare latent (rural Sindh and Balochistan poorest).
PROVINCE_WELFARE: dict[str, float] = {
    BALOCHISTAN: -0.35,
    KHYBER_PAKHTUNKHWA: -0.05,
    PUNJAB: 0.05,
    SINDH: -0.35,
    ISLAMABAD: 0.30,
    AJK: 0.10,
    GILGIT_BALTISTAN: 0.00,
}
#: Extra welfare of urban households.
URBAN_WELFARE = 0.55
#: Welfare per standard deviation of the district development index (census literacy, water,
#: sanitation; fact-based).
DEVELOPMENT_WELFARE = 0.30
#: Welfare per unit of ``log1p(km to the nearest settlement)``.
REMOTE_WELFARE = -0.10
#: Spread of household welfare around its expected value.
WELFARE_SIGMA = 0.85

# --------------------------------------------------------------------------------------------
# Assumptions: household composition
# --------------------------------------------------------------------------------------------

#: Overdispersion of household size (gamma shape of the Poisson rate).
SIZE_GAMMA_SHAPE = 8.0
#: Log change of the expected size per welfare standard deviation (poorer, larger).
SIZE_WELFARE_SLOPE = -0.12
#: Share of members under five, at average welfare, and its change per welfare sd.
UNDER5_SHARE = (0.14, -0.02)
#: Share of members aged 60+.
ELDERLY_SHARE = 0.07
#: Share of members with a disability.
DISABLED_SHARE = 0.025
#: Share of female-headed households.
FEMALE_HEADED: dict[str, float] = {
    BALOCHISTAN: 0.05,
    KHYBER_PAKHTUNKHWA: 0.13,
    PUNJAB: 0.10,
    SINDH: 0.07,
    ISLAMABAD: 0.08,
    AJK: 0.15,
    GILGIT_BALTISTAN: 0.09,
}

# --------------------------------------------------------------------------------------------
# Assumptions: dwelling (kacha, semi_pakka, pakka) at average welfare
# --------------------------------------------------------------------------------------------

#: ``(kacha, semi_pakka)`` shares by province for rural households; pakka is the rest.
DWELLING_RURAL: dict[str, tuple[float, float]] = {
    BALOCHISTAN: (0.55, 0.30),
    KHYBER_PAKHTUNKHWA: (0.30, 0.35),
    PUNJAB: (0.22, 0.33),
    SINDH: (0.60, 0.25),
    ISLAMABAD: (0.08, 0.22),
    AJK: (0.20, 0.40),
    GILGIT_BALTISTAN: (0.35, 0.40),
}
#: ``(kacha, semi_pakka)`` shares by province for urban households.
DWELLING_URBAN: dict[str, tuple[float, float]] = {
    BALOCHISTAN: (0.20, 0.35),
    KHYBER_PAKHTUNKHWA: (0.06, 0.24),
    PUNJAB: (0.05, 0.20),
    SINDH: (0.10, 0.25),
    ISLAMABAD: (0.02, 0.13),
    AJK: (0.05, 0.30),
    GILGIT_BALTISTAN: (0.10, 0.35),
}
#: Ordered-logit slope of dwelling quality on welfare (per welfare sd).
DWELLING_WELFARE_SLOPE = 1.0

# --------------------------------------------------------------------------------------------
# Assumptions: livelihoods, in the order of :class:`rahat.geo.registry.schema.Livelihood`
# (crop_farming, livestock, fishing, daily_wage, salaried, business, remittances, none)
# --------------------------------------------------------------------------------------------

#: Livelihood shares of rural households by province, at average welfare.
LIVELIHOOD_RURAL: dict[str, tuple[float, ...]] = {
    BALOCHISTAN: (0.22, 0.30, 0.00, 0.25, 0.08, 0.07, 0.03, 0.05),
    KHYBER_PAKHTUNKHWA: (0.18, 0.10, 0.00, 0.30, 0.10, 0.08, 0.18, 0.06),
    PUNJAB: (0.32, 0.12, 0.00, 0.27, 0.09, 0.08, 0.07, 0.05),
    SINDH: (0.44, 0.12, 0.01, 0.27, 0.06, 0.04, 0.01, 0.05),
    ISLAMABAD: (0.05, 0.04, 0.00, 0.35, 0.30, 0.15, 0.06, 0.05),
    AJK: (0.12, 0.12, 0.00, 0.25, 0.15, 0.06, 0.25, 0.05),
    GILGIT_BALTISTAN: (0.25, 0.20, 0.00, 0.20, 0.15, 0.08, 0.05, 0.07),
}
#: Livelihood shares of urban households (all provinces), at average welfare.
LIVELIHOOD_URBAN: tuple[float, ...] = (0.02, 0.02, 0.00, 0.36, 0.30, 0.22, 0.03, 0.05)
#: Extra remittance share of urban households in KP and AJK (migrant labour to the Gulf).
URBAN_REMITTANCES: dict[str, float] = {KHYBER_PAKHTUNKHWA: 0.08, AJK: 0.10}
#: Fishing share in coastal districts, rural and urban.
COASTAL_FISHING = (0.25, 0.04)
#: Log-weight change of each livelihood per welfare sd (poorer: daily wage; richer: salaried).
LIVELIHOOD_WELFARE_SLOPE: tuple[float, ...] = (0.0, -0.1, -0.2, -0.5, 0.5, 0.4, 0.3, -0.2)

# --------------------------------------------------------------------------------------------
# Assumptions: NSER exclusion tilt and programme take-up
# --------------------------------------------------------------------------------------------

#: Share of bottom-40 % households (PMT at or below the cut-off) not in the NSER (fact, *Mind the
#: Gap*: about 2.2 M of about 14.5 M). The generator solves its poverty tilt to hold it.
B40_EXCLUSION = 2.2 / 14.5
#: Logit tilt of exclusion per sd of ``log1p(km to the district's nearest registration centre)``
#: (one Dynamic Registration Centre per tehsil, :mod:`rahat.geo.registration_centres`; far: more).
EXCLUSION_CENTRE_TILT = 0.45
#: Logit tilt of exclusion per sd of ``log1p(km to the nearest settlement)`` (remote: more).
EXCLUSION_REMOTE_TILT = 0.25
#: Logit tilt of exclusion of a female-headed household (fewer documents, less mobility).
EXCLUSION_FEMALE_HEAD_TILT = 0.35
#: Extra logit tilt of a female-headed household with children under five (rarely travels).
EXCLUSION_FEMALE_CHILDREN_TILT = 0.30
#: Range searched for the poverty tilt (logit per sd of ``-PMT``) that holds
#: :data:`B40_EXCLUSION` given the other drivers.
EXCLUSION_POVERTY_TILT_RANGE = (-3.0, 3.0)
#: Relative exclusion of the provinces without a published figure (1 = the solved common rate).
UNPUBLISHED_EXCLUSION_RELATIVE: dict[str, float] = dict.fromkeys(
    (PUNJAB, SINDH, ISLAMABAD, AJK, GILGIT_BALTISTAN), 1.0
)

#: Registered households in each survey wave: ``(last updated 2010-11, desk 2012-18, 2019-21)``.
UPDATE_WAVE_SHARES = (0.20, 0.10, 0.70)
#: Share of households last updated in 2019-21 that were first registered in 2010-11.
FIRST_REGISTERED_2011 = 0.65

#: Kafaalat take-up of registered households at or below the cut-off, and above it.
KAFAALAT_TAKE_UP = (0.85, 0.02)
#: Taleemi (school stipends) among Kafaalat households with four or more members.
TALEEMI_TAKE_UP = 0.40
#: Nashonuma (nutrition) among Kafaalat households with children under five.
NASHONUMA_TAKE_UP = 0.30
#: Sehat card take-up of registered households by province (universal in Punjab and KP).
SEHAT_TAKE_UP: dict[str, float] = {
    BALOCHISTAN: 0.25,
    KHYBER_PAKHTUNKHWA: 0.90,
    PUNJAB: 0.80,
    SINDH: 0.20,
    ISLAMABAD: 0.70,
    AJK: 0.75,
    GILGIT_BALTISTAN: 0.60,
}
#: Zakat take-up of registered households with a PMT score at or below this.
ZAKAT = (20.0, 0.10)
