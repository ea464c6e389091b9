"""Words and numbers of the printable brief: digit grouping and the scenario in sentences.

Everything here returns plain text; :mod:`rahat.api.service.brief` escapes it for HTML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

#: Digit grouping of the brief's numbers: ``intl`` 1,234,567 or ``pk`` (lakh, crore) 12,34,567.
Grouping = Literal["intl", "pk"]
GROUPINGS: tuple[str, ...] = ("intl", "pk")

#: Plain names of the priority weights of a scenario.
_WEIGHT_NAMES = {
    "severity": "hazard severity",
    "poverty": "poverty (PMT score)",
    "children_under5": "children under five",
    "elderly": "elderly members",
    "disabled": "members with a disability",
    "female_headed": "a woman heading the household",
    "kacha": "a kacha dwelling",
    "livelihood_loss": "livelihood loss",
}


def group_digits(value: float, grouping: Grouping = "intl") -> str:
    """Format ``value`` rounded to a whole number, with thousands separators.

    Parameters
    ----------
    value
        Any real number; halves round away from zero (Rs 1234.5 is Rs 1,235).
    grouping
        ``"intl"``: groups of three (1,234,567); ``"pk"``: the last three digits, then
        groups of two (12,34,567), as lakh and crore are written in Pakistan.

    Returns
    -------
    str
        ``"0"`` for zero, a leading ``-`` for a negative number (``-1,235``).
    """
    whole = int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    digits = str(abs(whole))
    sign = "-" if whole < 0 else ""
    if grouping == "intl":
        return f"{sign}{abs(whole):,}"
    head, tail = digits[:-3], digits[-3:]
    groups = [head[max(i - 2, 0) : i] for i in range(len(head), 0, -2)][::-1]
    return sign + ",".join([*groups, tail])


def rupees(value: float, grouping: Grouping = "intl") -> str:
    """``Rs`` and ``value`` rounded to whole rupees (:func:`group_digits`)."""
    return f"Rs {group_digits(value, grouping)}"


def _number(value: Any) -> str:
    """A threshold as written in the scenario (``0.3``, ``32``), without a trailing ``.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _listed(items: Sequence[Any]) -> str:
    names = [str(i) for i in items]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _hazard_rule(rule: Mapping[str, Any], kinds: Mapping[str, str]) -> str:
    layer = str(rule.get("layer", "?"))
    kind = kinds.get(layer)
    text = f"the hazard layer '{layer}'" + (f" ({kind})" if kind else "")
    bounds = []
    if rule.get("min_intensity") is not None:
        bounds.append(f"at least {_number(rule['min_intensity'])}")
    if rule.get("max_intensity") is not None:
        bounds.append(f"at most {_number(rule['max_intensity'])}")
    if rule.get("min_class") is not None:
        bounds.append(f"of class '{rule['min_class']}' or worse")
    text += " reads " + (" and ".join(bounds) if bounds else "any value") + " at the household"
    where = rule.get("where")
    if isinstance(where, Mapping):
        text += f", where '{where.get('layer')}' is {_listed(where.get('in') or ['?'])}"
    return text


def _eligibility(rules: Mapping[str, Any], kinds: Mapping[str, str]) -> list[str]:
    out = []
    if rules.get("pmt_cutoff") is not None:
        out.append(
            f"A household is eligible if its PMT poverty score is at most "
            f"{_number(rules['pmt_cutoff'])}."
        )
    hazards = [r for r in rules.get("hazard") or [] if isinstance(r, Mapping)]
    if hazards:
        joint = "all of" if rules.get("hazard_combine") == "all" else "at least one of"
        lead = "It must be hit by the hazard: " if len(hazards) == 1 else f"It must meet {joint}: "
        out.append(lead + "; ".join(_hazard_rule(r, kinds) for r in hazards) + ".")
    area = rules.get("area_relative")
    if isinstance(area, Mapping):
        out.append(
            f"Only the poorest {_number(area.get('bottom_percent'))}% of each "
            f"{area.get('level')} (by PMT score) qualify."
        )
    notified = rules.get("notified")
    if isinstance(notified, Mapping):
        out.append(
            f"Only households in the notified {notified.get('level')}s qualify: "
            f"{_listed(notified.get('units') or ['?'])}."
        )
    if rules.get("dwelling"):
        out.append(f"Only households living in {_listed(rules['dwelling'])} dwellings qualify.")
    for zone in rules.get("zone") or []:
        out.append(f"Only households in '{zone.get('layer')}' {_listed(zone.get('in') or [])}.")
    for rule in rules.get("livelihood") or []:
        out.append(
            f"Households living from {_listed(rule.get('livelihoods') or ['?'])} also qualify "
            f"where '{rule.get('layer')}' reads at least "
            f"{_number(rule.get('min_intensity') or rule.get('min_class') or 0)}."
        )
    exclude = rules.get("exclude") or {}
    if exclude.get("programmes"):
        out.append(f"Beneficiaries of {_listed(exclude['programmes'])} are excluded.")
    if exclude.get("assisted_lists"):
        out.append(f"{len(exclude['assisted_lists'])} list(s) of assisted households are excluded.")
    return out or ["The scenario sets no eligibility rule: every registered household qualifies."]


def _priority(priority: Mapping[str, Any]) -> str:
    weights = {k: v for k, v in (priority.get("weights") or {}).items() if v}
    if not weights:
        return "Eligible households are ranked by a fixed random order (the run's seed)."
    parts = [
        f"{_WEIGHT_NAMES.get(name, name)} ({weight:.0%})"
        for name, weight in sorted(weights.items(), key=lambda item: -item[1])
    ]
    return "Eligible households are ranked by need, weighing " + _listed(parts) + "."


def _benefit(benefit: Mapping[str, Any], grouping: Grouping) -> str:
    kind = benefit.get("kind", "fixed")
    if kind == "fixed" and benefit.get("amount") is not None:
        return f"Each selected household receives {rupees(benefit['amount'], grouping)}."
    if kind == "household_size":
        steps = [
            f"{rupees(b.get('amount', 0), grouping)} up to {b['max_size']} members"
            if b.get("max_size")
            else f"{rupees(b.get('amount', 0), grouping)} above"
            for b in benefit.get("brackets") or []
        ]
        return "The transfer depends on household size: " + "; ".join(steps) + "."
    classes = benefit.get("by_class") or {}
    steps = [f"{rupees(amount, grouping)} for '{name}'" for name, amount in classes.items()]
    layer = benefit.get("layer")
    return f"The transfer depends on the class of '{layer}': " + "; ".join(steps) + "."


def _budget(budget: Mapping[str, Any], totals: Mapping[str, Any], grouping: Grouping) -> str:
    parts = []
    if budget.get("same_as"):
        parts.append(f"the same money as the scenario '{budget['same_as']}' spends")
    elif budget.get("total") is not None:
        parts.append(f"at most {rupees(budget['total'], grouping)}")
    if budget.get("max_households") is not None:
        parts.append(f"at most {group_digits(budget['max_households'], grouping)} households")
    if not parts:
        return "There is no budget cap: every eligible household is selected."
    text = "The budget is " + " and ".join(parts)
    if budget.get("same_as") and totals.get("budget_total") is not None:
        text += f" ({rupees(totals['budget_total'], grouping)} in this run)"
    if budget.get("reserve_for_unregistered"):
        text += "; part is held back for estimated unregistered households"
    return text + "."


def _quotas(quotas: Mapping[str, Any]) -> str:
    level = quotas.get("level", "unit")
    if quotas.get("mode") == "fixed":
        return f"The budget is split over {level}s in fixed shares set by the scenario."
    return f"The budget is split over {level}s in proportion to their eligible households."


def scenario_sentences(
    scenario: Mapping[str, Any], totals: Mapping[str, Any], grouping: Grouping = "intl"
) -> list[str]:
    """The rules of ``scenario`` as sentences a planner reads, in the order they apply.

    Parameters
    ----------
    scenario
        The scenario as written (YAML or JSON mapping); missing blocks are skipped.
    totals
        The run's totals (manifest ``totals``), for the budget the run actually had.
    grouping
        Digit grouping of amounts (:func:`group_digits`).
    """
    kinds = {
        str(h.get("name")): str(h.get("kind"))
        for h in scenario.get("hazards") or []
        if isinstance(h, Mapping)
    }
    eligibility = scenario.get("eligibility")
    out = _eligibility(eligibility if isinstance(eligibility, Mapping) else {}, kinds)
    priority = scenario.get("priority")
    out.append(_priority(priority if isinstance(priority, Mapping) else {}))
    benefit = scenario.get("benefit")
    if isinstance(benefit, Mapping):
        out.append(_benefit(benefit, grouping))
    budget = scenario.get("budget")
    out.append(_budget(budget if isinstance(budget, Mapping) else {}, totals, grouping))
    quotas = scenario.get("quotas")
    if isinstance(quotas, Mapping):
        out.append(_quotas(quotas))
    stale = scenario.get("stale_records")
    if isinstance(stale, Mapping):
        out.append(
            f"Records not updated for over {_number(stale.get('older_than_years', 5))} years "
            f"are handled by: {str(stale.get('action', 'flag')).replace('_', ' ')}."
        )
    return out
