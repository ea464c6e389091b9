"""The hostile-input corpus: every case gets its specific refusal, fast, small, and clean.

Per case: the input is built under ``tmp_path`` and run in-process while time and peak memory
above the baseline are measured (:mod:`measure`). The outcome must be the expected error
class, exit code or HTTP status; no output or body may hold a traceback; the case must take
under 10 s and under 1 GB above the baseline; and nothing may be half-written: no
``.tmp-*`` file anywhere, no new file in the output or state folders of a refused input, and
no empty hazard folder.
"""

from __future__ import annotations

import collections
import contextlib
from pathlib import Path
from typing import Any

import cli_cases
import hazard_cases
import http_cases
import pytest
import registry_cases
import scenario_cases
from cases import Case, Outcome

# the corpus's fixtures (a module, not a conftest.py: tests/api's helpers are imported as
# `conftest`, and a second conftest module would shadow them)
from fixtures import hostile_registry, hostile_service  # noqa: F401
from measure import measure
from runners import RUNNERS, Env

CASES: list[Case] = [
    *registry_cases.CASES,
    *hazard_cases.CASES,
    *scenario_cases.CASES,
    *cli_cases.CASES,
    *http_cases.CASES,
]
GROUPS = ("registry", "hazard", "scenario", "cli", "http")
MIN_CASES = 150
MAX_SECONDS = 10.0
MAX_EXTRA_MB = 1024.0
#: Files of the service's state folder that change on every request (the database, its log).
_VOLATILE = ("rahat.db", "audit")


#: Cases run once per process and runner before any is measured, so that a measurement is of
#: the case, not of importing the readers' libraries or loading the boundaries.
WARM_UP = {
    "registry": ("registry-utf8-bom", "registry-unknown-district"),
    "hazard": (
        "hazard-tiff-inf-cells",
        "hazard-geojson-bowtie",
        "hazard-netcdf-string-variable",
        "hazard-csv-one-point",
        "hazard-shapefile-zip-no-prj",
    ),
    "scenario": ("scenario-rich-markup-name",),
    "cli": (
        "cli-hazard-validate-no-crs",
        "cli-registry-validate-zero-rows",
        "cli-run-missing-hazard",
    ),
    "http": ("http-no-key", "http-upload-bad-crs"),
}
_warm: set[str] = set()


def _warm_up(runner: str, env: Env, tmp_path_factory: pytest.TempPathFactory) -> None:
    if runner in _warm:
        return
    _warm.add(runner)
    by_id = {f"{c.group}-{c.id}": c for c in CASES}
    for name in WARM_UP[runner]:
        folder = tmp_path_factory.mktemp("warm")
        with contextlib.suppress(Exception):
            RUNNERS[runner](by_id[name].build(folder), Env(folder, env.registry, env.service))


def _accepted(result: str | int) -> bool:
    """Whether ``result`` is an outcome that may leave files behind (success, rejected rows)."""
    if isinstance(result, int):
        return result in (0, 1) or 200 <= result < 300
    return result in ("ok", "rejected", "empty")


def _files(root: Path | None) -> set[str]:
    if root is None or not root.exists():
        return set()
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(_VOLATILE)
    }


def _param(case: Case) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case, id=f"{case.group}-{case.id}", marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_hostile_case(
    case: Case,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    runner = RUNNERS[case.runs_with]
    service = request.getfixturevalue("hostile_service") if case.runs_with == "http" else None
    registry = request.getfixturevalue("hostile_registry") if case.runs_with == "cli" else tmp_path
    env = Env(tmp_path, registry, service)
    _warm_up(case.runs_with, env, tmp_path_factory)
    given = case.build(tmp_path)
    state = service.app.state.settings.state_dir if service is not None else None
    before_out, before_state = _files(env.out), _files(state)

    measured = measure(lambda: runner(given, env))
    if measured.error is not None:
        outcome = Outcome(type(measured.error).__name__, str(measured.error))
    else:
        outcome = measured.value

    report = f"{case.id}: got {outcome.result!r} ({outcome.text[:600]!r})"
    assert outcome.result == case.expect, report
    if case.message_contains:
        assert case.message_contains.lower() in outcome.text.lower(), report
    assert "Traceback" not in outcome.text, report
    assert measured.seconds < MAX_SECONDS, (report, measured.seconds)
    assert measured.extra_mb < MAX_EXTRA_MB, (report, measured.extra_mb)
    # nothing half-written
    leftovers = list(tmp_path.rglob(".tmp*"))
    if service is not None and state is not None:
        leftovers += list(state.rglob(".tmp*"))
        hazards = service.app.state.settings.hazards_dir
        leftovers += [p for p in hazards.glob("*") if p.is_dir() and not any(p.iterdir())]
    assert not leftovers, (report, leftovers)
    if not _accepted(outcome.result):
        new = _files(env.out) - before_out
        assert not new, (report, new)
        assert _files(state) == before_state, (report, _files(state) - before_state)


def test_corpus_size_by_group() -> None:
    """At least 150 cases, spread over the five groups; the table goes in the closing note."""
    ids = [f"{c.group}-{c.id}" for c in CASES]
    assert len(ids) == len(set(ids)), [i for i, n in collections.Counter(ids).items() if n > 1]
    count = collections.Counter(c.group for c in CASES)
    xfails = collections.Counter(c.group for c in CASES if c.xfail)
    print("\nhostile corpus: group, cases, of which xfail")
    for group in GROUPS:
        print(f"  {group:<9} {count[group]:>4} {xfails[group]:>4}")
    print(f"  {'total':<9} {len(CASES):>4} {sum(xfails.values()):>4}")
    assert set(count) == set(GROUPS)
    assert len(CASES) >= MIN_CASES
    assert min(count.values()) >= 20


def test_refused_run_writes_nothing(tmp_path: Path, hostile_registry: Path) -> None:  # noqa: F811
    """``rahat run`` refusing its scenario (a hazard file is missing) leaves --out empty."""
    outcome = RUNNERS["cli"](
        cli_cases.args(*cli_cases.RUN)(tmp_path), Env(tmp_path, hostile_registry)
    )
    assert outcome.result == 2, outcome.text
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir()), sorted(p.name for p in out.iterdir())
