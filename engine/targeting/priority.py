"""Need-based priority score: a weighted mean of components that each lie in [0, 1].

Components (computed per household; constants are part of the contract):

``severity``
    ``severity_by: class`` (default): hazard class code / highest class code on the severity
    layer (``priority.severity_layer``, else the first hazard layer); no data counts as 0.
    ``severity_by: intensity``: ``clip(intensity / severity_max, 0, 1)``, NaN as 0.
``poverty``
    ``1 - pmt_score / 100`` (PMT scores run 0-100, lower is poorer).
``children_under5``, ``elderly``, ``disabled``
    ``min(count, cap) / cap`` with caps 3, 2 and 2 members.
``female_headed``
    1 for a female-headed household, else 0.
``kacha``
    Dwelling: kacha 1, semi-pakka 0.5, pakka 0.
``livelihood_loss``
    1 when the livelihood is one of ``priority.loss_livelihoods`` and severity is above 0.

``score = sum(w_i * c_i) / sum(w_i)``, accumulated in float64 in the order above (all weights
zero gives 0 for everyone: the order is then the keyed hash, a lottery).
"""

from __future__ import annotations

import numpy as np

from rahat.engine.exposure import Exposure
from rahat.engine.targeting.scenario import Scenario

#: Component names, in the order they are summed.
COMPONENTS: tuple[str, ...] = (
    "severity",
    "poverty",
    "children_under5",
    "elderly",
    "disabled",
    "female_headed",
    "kacha",
    "livelihood_loss",
)

#: Member counts at which a component saturates.
MEMBER_CAPS: dict[str, int] = {"children_under5": 3, "elderly": 2, "disabled": 2}

#: Component value of each dwelling type.
DWELLING_NEED: dict[str, float] = {"kacha": 1.0, "semi_pakka": 0.5, "pakka": 0.0}


def _by_category(exposure: Exposure, column: str, values: dict[str, float]) -> np.ndarray:
    cats = exposure.registry.frame[column].cat.categories
    table = np.array([values.get(str(c), 0.0) for c in cats] + [0.0], dtype=np.float64)
    return table


def weighted(scenario: Scenario) -> tuple[str, ...]:
    """The components with a weight above 0 (the only ones the score needs), in order."""
    weights = scenario.priority.weights
    return tuple(name for name in COMPONENTS if float(getattr(weights, name)) > 0)


def components(
    scenario: Scenario,
    exposure: Exposure,
    idx: np.ndarray,
    names: tuple[str, ...] = COMPONENTS,
) -> dict[str, np.ndarray]:
    """Return the components ``names`` (float64 in [0, 1]) for the households at ``idx``.

    Each value depends on its household alone, so the components of any subset of households
    are the same subset of everyone's.
    """
    registry = exposure.registry
    p = scenario.priority
    out: dict[str, np.ndarray] = {}

    def severity() -> np.ndarray:
        layer_name = scenario.severity_layer()
        if layer_name is None or layer_name not in exposure.hazards:
            return np.zeros(len(idx), dtype=np.float64)
        layer = exposure.hazards[layer_name]
        if p.severity_by == "class":
            top = max(len(layer.class_labels) - 1, 1)
            return np.clip(np.take(layer.hazard_class, idx).astype(np.float64), 0, None) / top
        assert p.severity_max is not None
        values = np.take(layer.intensity, idx).astype(np.float64)
        return np.nan_to_num(np.clip(values / p.severity_max, 0.0, 1.0), nan=0.0)

    def column(name: str) -> np.ndarray:
        return np.take(registry.array(name), idx)

    if "severity" in names or "livelihood_loss" in names:
        out["severity"] = severity()
    if "poverty" in names:
        out["poverty"] = np.clip(1.0 - column("pmt_score").astype(np.float64) / 100, 0, 1)
    for name, cap in MEMBER_CAPS.items():
        if name in names:
            out[name] = np.minimum(column(name).astype(np.float64), cap) / cap
    if "female_headed" in names:
        out["female_headed"] = column("female_headed").astype(np.float64)
    if "kacha" in names:
        out["kacha"] = _by_category(exposure, "dwelling", DWELLING_NEED)[column("dwelling")]
    if "livelihood_loss" in names:
        loss = _by_category(exposure, "livelihood", {v.value: 1.0 for v in p.loss_livelihoods})
        out["livelihood_loss"] = loss[column("livelihood")] * (out["severity"] > 0)
    return {name: out[name] for name in names}


def score(scenario: Scenario, parts: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Return the weighted mean of ``parts`` with the scenario's weights (float64).

    ``parts`` holds at least the :func:`weighted` components of ``n`` households.
    """
    weights = scenario.priority.weights
    total = np.zeros(n, dtype=np.float64)
    wsum = 0.0
    for name in COMPONENTS:
        w = float(getattr(weights, name))
        if w > 0:
            total += w * parts[name]
            wsum += w
    return total / wsum if wsum > 0 else total
