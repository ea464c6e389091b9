"""One decision and its reason codes per claim, for a whole batch at once.

The registry's CNIC tokens are sorted once (:class:`RegistryIndex`); each claim's token is
found with ``np.searchsorted``, its household in the run's caseload the same way by household
id, and every decision is taken on whole arrays: no Python loop over claims.

The **decision** is the first that applies of

1. ``invalid_cnic``: the CNIC is not 13 digits (or one digit repeated);
2. ``duplicate_claim``: the same CNIC (token) appears on an earlier row of the batch;
3. the claimant's standing, with a run (``--run``):

   - ``in_caseload``: the household is selected (with its rank and amount);
   - ``eligible_not_selected``: eligible but cut by the budget or a quota (with the cut line);
   - ``registered_not_eligible``: exposed but not eligible (with the failed rules);
   - ``registered_outside_footprint``: registered, but not exposed or not considered;
   - ``not_registered_in_footprint``: no household has the CNIC, and the stated tehsil or
     location lies in the run's footprint (:mod:`rahat.engine.claims.run`): refer to
     registration;
   - ``not_registered_outside_footprint``: no household has the CNIC, elsewhere;

   without a run, ``registered`` or ``not_registered`` (the registry alone says no more).

The **reasons** are the decision, then (for a duplicate) the standing of the household the
CNIC belongs to, then the flags that apply: ``stated_location_mismatch`` (a registered claimant
states a district or tehsil that is neither the name nor the P-code of the household's) and
``phone_velocity`` (the claim's phone is given with at least ``velocity`` distinct valid CNICs
in the batch). A flag never changes the decision: it is for review.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rahat.engine.claims.lookup import casefold, find_sorted, fold_codes
from rahat.engine.claims.read import Claims
from rahat.engine.claims.run import RunCaseload
from rahat.engine.kernels.sorting import radix_argsort
from rahat.engine.targeting.caseload import DECISIONS
from rahat.geo.errors import SchemaError
from rahat.geo.registry.model import Registry

#: Every reason code, decisions first; a claim's codes are indices into this tuple.
CODES: tuple[str, ...] = (
    "invalid_cnic",
    "duplicate_claim",
    "in_caseload",
    "eligible_not_selected",
    "registered_not_eligible",
    "registered_outside_footprint",
    "not_registered_in_footprint",
    "not_registered_outside_footprint",
    "registered",
    "not_registered",
    "stated_location_mismatch",
    "phone_velocity",
)
#: Codes that are flags, never a decision.
FLAGS: tuple[str, ...] = ("stated_location_mismatch", "phone_velocity")
#: Distinct CNICs behind one phone from which its claims are flagged ``phone_velocity``.
DEFAULT_VELOCITY = 5
#: Registry column of the CNIC token, and of the phone token.
CNIC_COLUMN, PHONE_COLUMN = "cnic_token", "phone_token"

_CODE = {name: i for i, name in enumerate(CODES)}
_NAMES = np.array(CODES, dtype=object)
_UNITS: tuple[tuple[str, str], ...] = (("district", "district_pcode"), ("tehsil", "tehsil_pcode"))


def _unit_text(registry: Registry, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Category codes of a registry column and its case-folded categories (``""`` appended)."""
    if column not in registry.frame.columns:
        return np.full(len(registry), -1, dtype=np.int8), np.array([""], dtype=object)
    series = registry.frame[column]
    if not isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype("category")
    cats = casefold(np.asarray(series.cat.categories, dtype=object))
    return series.cat.codes.to_numpy(), np.append(cats, "")  # codes kept narrow (int8/16/32)


def _display(registry: Registry) -> tuple[np.ndarray, np.ndarray]:
    """Per registry row, the tehsil shown in the summary: its P-code, else its name.

    Returned as a code per row into the returned texts (code -1: the trailing ``""``).
    """
    codes = np.full(len(registry), -1, dtype=np.int32)
    texts: list[np.ndarray] = []
    for column in ("tehsil_pcode", "tehsil"):
        if column in registry.frame.columns:
            series = registry.frame[column].astype("category")
            own = series.cat.codes.to_numpy()
            fill = (codes < 0) & (own >= 0)
            codes[fill] = own[fill] + sum(len(t) for t in texts)
            texts.append(np.asarray(series.cat.categories, dtype=object))
    return codes, np.append(np.concatenate(texts), "")


@dataclass(frozen=True)
class RegistryIndex:
    """The registry's CNIC tokens sorted for ``np.searchsorted``, with what a check reads.

    Attributes
    ----------
    tokens
        Sorted non-zero CNIC tokens (a token held by two households is found at its first).
    rows
        Registry row of each sorted token.
    household_id
        Household id per registry row.
    units
        Per unit column (``district``, ``district_pcode``, ``tehsil``, ``tehsil_pcode``): the
        category code per registry row and the case-folded categories.
    display
        Per registry row, the tehsil shown in the summary (P-code, else name) as objects.
    """

    tokens: np.ndarray
    rows: np.ndarray
    household_id: np.ndarray
    units: dict[str, tuple[np.ndarray, np.ndarray]]
    display: tuple[np.ndarray, np.ndarray]

    @classmethod
    def build(cls, registry: Registry) -> RegistryIndex:
        """Sort the registry's ``cnic_token`` column (0 or missing: no CNIC).

        Raises
        ------
        rahat.geo.errors.SchemaError
            If the registry has no ``cnic_token`` column.
        """
        if CNIC_COLUMN not in registry.frame.columns:
            raise SchemaError(
                "the registry has no cnic_token column: import it with CNIC tokens",
                source=registry.source,
            )
        token = registry.frame[CNIC_COLUMN].to_numpy(dtype=np.int64, na_value=0)
        # rows in token order by the radix kernel (a fifth of np.argsort's time at 40 M),
        # on keys flipped at the sign bit so that unsigned order is the tokens' signed order
        keys = token.view(np.uint64) ^ np.uint64(1 << 63)
        rows = radix_argsort(keys, np.flatnonzero(token))
        del keys
        units = {c: _unit_text(registry, c) for pair in _UNITS for c in pair}
        return cls(
            tokens=token[rows],
            rows=rows.astype(np.int32) if len(token) < 2**31 else rows,
            household_id=registry.household_id,
            units=units,
            display=_display(registry),
        )

    def find(self, cnic_token: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Registry row of each token and whether one holds it."""
        pos, found = find_sorted(self.tokens, cnic_token)
        if len(self.rows) == 0:
            return pos, found
        return self.rows[pos], found & (cnic_token != 0)

    def mismatch(self, row: np.ndarray, stated: np.ndarray, level: int) -> np.ndarray:
        """Whether a stated unit (given) is neither the name nor the P-code of the row's.

        The texts are compared as ids in one vocabulary of the distinct stated texts and the
        registry's categories, so each claim costs integer comparisons only.
        """
        codes, folded = fold_codes(stated)
        out = (folded != "")[codes]
        for column in _UNITS[level]:
            cat_codes, cats = self.units[column]
            vocabulary = pd.Index(pd.unique(np.concatenate([cats, folded])))
            cat_ids, stated_ids = vocabulary.get_indexer(cats), vocabulary.get_indexer(folded)
            out &= cat_ids[cat_codes[row]] != stated_ids[codes]
        return out


@dataclass(frozen=True)
class ClaimDecisions:
    """The decisions of a batch, one entry per claim, in file order.

    Attributes
    ----------
    decision
        Index into :data:`CODES` of each claim's decision.
    standing
        Index into :data:`CODES` of the household's standing (as ``decision`` for a claim that
        is neither invalid nor a duplicate; -1 for an invalid CNIC).
    mismatch, velocity
        The flags.
    rank, amount
        The caseload's rank (-1 where none) and paid amount (0 where none).
    cause
        The caseload's cause for the household (the last part of its ``reasons``: the cut line,
        or the failed rules), ``""`` where none.
    unit
        The tehsil each claim is counted under: the registry's (P-code, else name) for a
        registered claimant, else the stated one.
    """

    decision: np.ndarray
    standing: np.ndarray
    mismatch: np.ndarray
    velocity: np.ndarray
    rank: np.ndarray
    amount: np.ndarray
    cause: np.ndarray
    unit: np.ndarray

    def has(self, code: str) -> np.ndarray:
        """Whether each claim carries reason ``code``."""
        if code == "stated_location_mismatch":
            return self.mismatch.copy()
        if code == "phone_velocity":
            return self.velocity.copy()
        return (self.decision == _CODE[code]) | (self.standing == _CODE[code])

    def reasons(self) -> np.ndarray:
        """The reason codes of each claim joined by ``;`` (decision first)."""
        text = _NAMES[self.decision]
        extra = (self.standing >= 0) & (self.standing != self.decision)
        text = np.where(extra, text + ";" + _NAMES[np.maximum(self.standing, 0)], text)
        text = np.where(self.mismatch, text + ";stated_location_mismatch", text)
        return np.where(self.velocity, text + ";phone_velocity", text)


def phone_velocity(claims: Claims, velocity: int) -> np.ndarray:
    """Whether each claim's phone is given with at least ``velocity`` distinct valid CNICs.

    Only a phone on at least ``velocity`` claims with a valid CNIC can be, so the distinct
    (phone, CNIC) pairs are counted for those phones alone (few in a real stream).
    """
    codes, uniques = pd.factorize(claims.phone_token)
    ok = claims.cnic_valid & (claims.phone_token != 0)
    claims_per_phone = np.bincount(codes[ok], minlength=len(uniques))
    candidate = ok & (claims_per_phone[codes] >= velocity)
    pairs = pd.DataFrame({"phone": codes[candidate], "cnic": claims.cnic_token[candidate]})
    phones = pairs.drop_duplicates()["phone"].to_numpy()
    cnics_per_phone = np.bincount(phones, minlength=len(uniques))
    return (cnics_per_phone[codes] >= velocity) & (claims.phone_token != 0)


def duplicates(claims: Claims) -> np.ndarray:
    """Whether each valid claim's CNIC appears on an earlier row."""
    earlier = pd.Series(claims.cnic_token).duplicated(keep="first").to_numpy()
    return earlier & claims.cnic_valid


def _standing(
    index: RegistryIndex,
    run: RunCaseload | None,
    claims: Claims,
    row: np.ndarray,
    found: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Standing code, rank, amount and caseload cause of each claim."""
    n = len(claims)
    rank, amount, cause = np.full(n, -1, np.int64), np.zeros(n, np.int64), np.full(n, "", object)
    if run is None:
        return np.where(found, _CODE["registered"], _CODE["not_registered"]), rank, amount, cause
    pos, listed = run.find(index.household_id[row])
    listed &= found
    decision, exposed = np.full(n, -1, np.int64), np.zeros(n, dtype=bool)
    decision[listed], exposed[listed] = run.decision[pos[listed]], run.exposed[pos[listed]]
    standing = np.where(
        run.in_footprint(claims.stated_tehsil, claims.lon, claims.lat),
        _CODE["not_registered_in_footprint"],
        _CODE["not_registered_outside_footprint"],
    )
    standing[found] = _CODE["registered_outside_footprint"]
    standing[exposed & (decision == DECISIONS.index("not_eligible"))] = _CODE[
        "registered_not_eligible"
    ]
    cut = (decision == DECISIONS.index("cut_budget")) | (decision == DECISIONS.index("cut_quota"))
    standing[cut] = _CODE["eligible_not_selected"]
    standing[decision == DECISIONS.index("selected")] = _CODE["in_caseload"]
    rank[listed], amount[listed] = run.rank[pos[listed]], run.amount[pos[listed]]
    told = np.flatnonzero(
        (standing == _CODE["eligible_not_selected"])
        | (standing == _CODE["registered_not_eligible"])
    )
    if len(told):
        import pyarrow as pa
        import pyarrow.compute as pc

        text = pc.take(run.reasons, pa.array(run.reasons_row[pos[told]]))
        if pa.types.is_dictionary(text.type):
            text = text.cast(text.type.value_type)
        parts = pc.extract_regex(text, r"(?:^|;)(?P<cause>[^;]*)$")
        last = pc.struct_field(parts, "cause")
        cause[told] = np.asarray(last.to_numpy(zero_copy_only=False), dtype=object)
    return standing, rank, amount, cause


def decide_claims(
    claims: Claims,
    index: RegistryIndex,
    run: RunCaseload | None = None,
    *,
    velocity: int = DEFAULT_VELOCITY,
) -> ClaimDecisions:
    """Decide every claim of a batch (see the module for the decisions and their order).

    Parameters
    ----------
    claims
        The batch (:func:`rahat.engine.claims.read.read_claims`).
    index
        The registry's sorted tokens (:meth:`RegistryIndex.build`).
    run
        The run's caseload (:func:`rahat.engine.claims.run.load_run`); without one a claim is
        only ``registered`` or ``not_registered``.
    velocity
        Distinct CNICs behind one phone from which its claims are flagged.

    Returns
    -------
    ClaimDecisions
        One decision, its reasons, rank, amount and cause per claim.
    """
    if velocity < 2:
        raise SchemaError("the phone velocity threshold must be at least 2 CNICs")
    row, found = index.find(claims.cnic_token)
    found &= claims.cnic_valid
    standing, rank, amount, cause = _standing(index, run, claims, row, found)
    standing[~claims.cnic_valid] = -1
    decision = standing.copy()
    decision[duplicates(claims)] = _CODE["duplicate_claim"]
    decision[~claims.cnic_valid] = _CODE["invalid_cnic"]
    mismatch = found & (
        index.mismatch(row, claims.stated_district, 0)
        | index.mismatch(row, claims.stated_tehsil, 1)
    )
    codes, cats = index.display
    unit = np.where(found, cats[codes[row]], claims.stated_tehsil)
    return ClaimDecisions(
        decision=decision.astype(np.int8),
        standing=standing.astype(np.int8),
        mismatch=mismatch,
        velocity=phone_velocity(claims, velocity),
        rank=rank,
        amount=amount,
        cause=cause,
        unit=unit,
    )
