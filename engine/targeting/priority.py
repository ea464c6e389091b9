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


def components(scenario: Scenario, exposure: Exposure, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Return every component (float64 in [0, 1]) for the households at positions ``idx``."""
    registry = exposure.registry
    p = scenario.priority
    out: dict[str, np.ndarray] = {}

    layer_name = scenario.severity_layer()
    severity = np.zeros(len(idx), dtype=np.float64)
    if layer_name is not None and layer_name in exposure.hazards:
        layer = exposure.hazards[layer_name]
        if p.severity_by == "class":
            top = max(len(layer.class_labels) - 1, 1)
            severity = np.clip(layer.hazard_class[idx].astype(np.float64), 0, None) / top
        else:
            assert p.severity_max is not None
            values = layer.intensity[idx].astype(np.float64)
            severity = np.nan_to_num(np.clip(values / p.severity_max, 0.0, 1.0), nan=0.0)
    out["severity"] = severity
    out["poverty"] = np.clip(1.0 - registry.array("pmt_score")[idx].astype(np.float64) / 100, 0, 1)
    for name, cap in MEMBER_CAPS.items():
        count = registry.array(name)[idx].astype(np.float64)
        out[name] = np.minimum(count, cap) / cap
    out["female_headed"] = registry.array("female_headed")[idx].astype(np.float64)
    out["kacha"] = _by_category(exposure, "dwelling", DWELLING_NEED)[
        registry.array("dwelling")[idx]
    ]
    loss = _by_category(exposure, "livelihood", {v.value: 1.0 for v in p.loss_livelihoods})
    out["livelihood_loss"] = loss[registry.array("livelihood")[idx]] * (severity > 0)
    return out


def score(scenario: Scenario, parts: dict[str, np.ndarray]) -> np.ndarray:
    """Return the weighted mean of ``parts`` with the scenario's weights (float64)."""
    weights = scenario.priority.weights
    n = len(next(iter(parts.values())))
    total = np.zeros(n, dtype=np.float64)
    wsum = 0.0
    for name in COMPONENTS:
        w = float(getattr(weights, name))
        if w > 0:
            total += w * parts[name]
            wsum += w
    return total / wsum if wsum > 0 else total
