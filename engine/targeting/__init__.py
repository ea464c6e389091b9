"""Policy evaluation: scenarios, eligibility, need ranking, budget and quotas, caseloads.

Public API: :class:`Scenario`, :func:`load_scenario`, :func:`validate_against`,
:func:`known_admin_units`, :func:`evaluate`, :class:`Caseload`, :func:`compare_caseloads`,
:func:`sweep`, :func:`write_outputs`.
"""

from rahat.engine.targeting.caseload import Caseload
from rahat.engine.targeting.compare import Comparison, compare_caseloads
from rahat.engine.targeting.evaluate import evaluate
from rahat.engine.targeting.outputs import write_outputs
from rahat.engine.targeting.scenario import (
    Scenario,
    known_admin_units,
    load_scenario,
    validate_against,
)
from rahat.engine.targeting.sweep import SweepResult, sweep

__all__ = [
    "Caseload",
    "Comparison",
    "Scenario",
    "SweepResult",
    "compare_caseloads",
    "evaluate",
    "known_admin_units",
    "load_scenario",
    "sweep",
    "validate_against",
    "write_outputs",
]
