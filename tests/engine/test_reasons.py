"""Each household's reasons end with exactly the cause of its own decision."""

from __future__ import annotations

from rahat.benchmarks.policy import BENCH_SCENARIO, synthetic_exposure
from rahat.engine.targeting import evaluate, load_scenario
from rahat.engine.targeting.reasons import score_vs_cut


def test_reasons_hold_one_cause_matching_the_decision() -> None:
    plain = {k: v for k, v in BENCH_SCENARIO.items() if k != "quotas"}  # cuts by the budget
    scenario = load_scenario({**plain, "budget": {"max_households": 120}})
    caseload = evaluate(scenario, synthetic_exposure(3_000, seed=11))
    frame = caseload.frame
    cut_score = caseload.totals["cut"]["score_at_cut"]
    causes = {"selected": 0, "cut_budget": 0}
    for reasons, decision, rank, score in zip(
        frame["reasons"], frame["decision"], frame["rank"], frame["score"], strict=True
    ):
        if decision == "selected":
            assert reasons.endswith(";selected: within the budget") and "budget: cut" not in reasons
        elif decision == "cut_budget":
            expected = f";budget: cut at rank {rank} ({score_vs_cut(float(score), cut_score)})"
            assert reasons.endswith(expected) and "selected:" not in reasons, reasons
        else:
            continue
        causes[str(decision)] += 1
    assert causes["selected"] == 120 and causes["cut_budget"] > 100
