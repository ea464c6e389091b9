"""The ``reasons`` column of a caseload: the rules each household passed or failed, and why.

Each household's text is its rule results (``pmt<=32:pass;flood:fail``), then, after a ``;``,
the cause of its final decision (:mod:`rahat.engine.targeting.caseload`): ``selected: within
the budget``, ``quota Dadu: full``, the failed rule of a household that is not eligible, or
``budget: cut at rank 51214 (score 0.7999 < 0.8000 at the cut)``.

Most texts are shared by many households and are built once per distinct combination (coded
text, :data:`~rahat.engine.targeting.explain.Coded`). A budget cut names the household's own
rank, so those texts are different for every household: at national scale millions of them.
They are built by Arrow compute kernels (the score comparison formatted once per distinct
score), never one Python string per household, and the column is returned as Arrow-backed
text, so writing it costs no conversion.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rahat.engine.targeting.caseload import DECISIONS
from rahat.engine.targeting.explain import Coded, join_codes
from rahat.engine.targeting.rules import RuleSet

_QUOTA = DECISIONS.index("cut_quota")
_NOT_ELIGIBLE = DECISIONS.index("not_eligible")


def rule_combinations(rules: RuleSet, idx: np.ndarray) -> Coded:
    """Each household's pass/fail text over the scenario's rules, coded (sorted texts).

    Parameters
    ----------
    rules
        The evaluated eligibility rules.
    idx
        Rows of the exposure, in output order.

    Returns
    -------
    Coded
        Codes per household and the distinct texts, sorted.
    """
    if not rules.rules:
        return np.zeros(len(idx), dtype=np.int64), [""]
    bits = np.zeros(len(idx), dtype=np.int64)
    for i, rule in enumerate(rules.rules):
        bits |= rule.passed[idx].astype(np.int64) << i
    if len(rules.rules) <= 20:  # O(n): mark the combinations present, then look them up
        used = np.flatnonzero(np.bincount(bits, minlength=1 << len(rules.rules)))
        lookup = np.zeros(1 << len(rules.rules), dtype=np.int64)
        lookup[used] = np.arange(len(used))
        inverse = lookup[bits]
    else:
        used, inverse = np.unique(bits, return_inverse=True)
    labels = [
        ";".join(
            f"{r.label}:{'pass' if (int(b) >> i) & 1 else 'fail'}"
            for i, r in enumerate(rules.rules)
        )
        for b in used
    ]
    categories = sorted(set(labels))
    position = {label: i for i, label in enumerate(categories)}
    codes = np.array([position[label] for label in labels], dtype=np.int64)[inverse]
    return codes, categories


def decision_causes(
    decision: np.ndarray,
    quota_unit: np.ndarray,
    unit_labels: list[str],
    with_quotas: bool,
    not_eligible: Coded,
) -> Coded:
    """The cause of each household's decision, coded; budget cuts get an empty text.

    Parameters
    ----------
    decision
        Codes into :data:`~rahat.engine.targeting.caseload.DECISIONS`, per household.
    quota_unit
        Quota unit of each household (index into ``unit_labels``).
    unit_labels
        Names of the quota units.
    with_quotas
        Whether the scenario has quotas (``within the quota`` rather than ``the budget``).
    not_eligible
        Causes of the households that are not eligible, in their order.

    Returns
    -------
    Coded
        Code per household and the texts. Households cut by the budget hold the empty text:
        their cause, different for each, is :func:`budget_causes`.
    """
    codes = np.zeros(len(decision), dtype=np.int64)
    within = "the quota" if with_quotas else "the budget"
    texts = [f"selected: within {within}", ""]  # code 0, and 1 for a budget cut
    codes[decision == DECISIONS.index("cut_budget")] = 1
    quota = np.flatnonzero(decision == _QUOTA)
    codes[quota] = quota_unit[quota] + len(texts)
    texts.extend(f"quota {label}: full" for label in unit_labels)
    outside = np.flatnonzero(decision == _NOT_ELIGIBLE)
    codes[outside] = not_eligible[0] + len(texts)
    texts.extend(not_eligible[1])
    return codes, texts


def score_vs_cut(value: float, cut: float) -> str:
    """Return ``score 0.412 < 0.415 at the cut`` with enough decimals to tell them apart."""
    if value >= cut:
        return f"score {value:.3f} = {cut:.3f} at the cut, ranked after it by the keyed hash"
    for decimals in range(3, 18):
        a, b = f"{value:.{decimals}f}", f"{cut:.{decimals}f}"
        if a != b:
            break
    return f"score {a} < {b} at the cut"


def budget_causes(rank: np.ndarray, scores: np.ndarray, cut_score: float | None) -> pa.Array:
    """``budget: cut at rank R (score S < C at the cut)`` for each household cut by the budget.

    Parameters
    ----------
    rank
        Rank of each household cut by the budget.
    scores
        Its priority score.
    cut_score
        Score of the last selected household; ``None`` when the budget pays for nobody.

    Returns
    -------
    pyarrow.StringArray
        One text per household; the score comparison is formatted once per distinct score.
    """
    ranks = pc.cast(pa.array(np.asarray(rank, dtype=np.int64)), pa.string())
    if cut_score is None:
        detail: Any = pa.scalar("the budget pays for no household")
    else:
        distinct, inverse = np.unique(np.asarray(scores), return_inverse=True)
        texts = pa.array([score_vs_cut(float(v), cut_score) for v in distinct], pa.string())
        detail = texts.take(pa.array(inverse.reshape(-1).astype(np.int64)))
    return pc.binary_join_element_wise("budget: cut at rank ", ranks, " (", detail, ")", "")


def reasons_column(
    rules: RuleSet,
    idx: np.ndarray,
    causes: Coded,
    cut_rows: np.ndarray,
    cut_texts: pa.Array,
    notes: Coded | None = None,
) -> pd.Series:
    """The ``reasons`` text of each household: rule results, notes, then the decision's cause.

    Parameters
    ----------
    rules, idx
        As for :func:`rule_combinations`.
    causes
        :func:`decision_causes` of the same households.
    cut_rows
        Positions (in ``idx``) of the households cut by the budget.
    cut_texts
        Their :func:`budget_causes`, in the same order.
    notes
        Text between the rules and the cause (empty for most households): the stale-record
        flag of ``stale_records``.

    Returns
    -------
    pandas.Series
        Arrow-backed text, one per household.
    """
    rule_part = rule_combinations(rules, idx)
    if notes is not None:
        rule_part = join_codes(rule_part, notes, ";")
    codes, texts = join_codes(rule_part, causes, ";")
    shared = pa.array(texts, pa.string()).take(pa.array(codes))
    if len(cut_rows):
        rules_part = pc.take(shared, pa.array(cut_rows.astype(np.int64)))
        joined = pc.binary_join_element_wise(rules_part, cut_texts, ";")
        if notes is not None:  # a household with no rule nor note: the cause alone
            cut_text = pc.if_else(pc.equal(rules_part, ""), cut_texts, joined)
        else:  # no rules: the cause alone, as for every other household
            cut_text = joined if rules.rules else cut_texts
        mask = np.zeros(len(codes), dtype=bool)
        mask[cut_rows] = True
        shared = pc.replace_with_mask(shared, pa.array(mask), cut_text)
    return pd.Series(shared.to_pandas(), name="reasons").reset_index(drop=True)
