"""Runners: feed a case's input to Rahat in-process and report an :class:`Outcome`.

Every runner raises what Rahat raised (the corpus turns an exception into its class name);
what it returns is the outcome of an accepted input.
"""

from __future__ import annotations

import functools
import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cases import Outcome


@dataclass
class Env:
    """What a runner may use: the case's folder, a valid registry, a running service."""

    tmp: Path
    registry: Path
    service: Any = None  # tests/api/conftest.py's Service, started only for HTTP cases

    @property
    def out(self) -> Path:
        """The case's output folder: the only place a runner writes to."""
        return self.tmp / "out"


def run_registry(path: Path, env: Env) -> Outcome:
    """Read and validate a registry file; rejected rows go to ``out/rejects.csv``."""
    from rahat.geo.registry.validate import read_registry

    env.out.mkdir(exist_ok=True)
    report = read_registry(path, rejects_path=env.out / "rejects.csv")
    if report.n_rejected:
        return Outcome("rejected", "; ".join(report.reason_counts))
    return Outcome("ok" if report.n_valid else "empty", " ".join(report.notes))


def run_hazard(spec: Path | tuple[Path, dict[str, Any]], env: Env) -> Outcome:
    """Read a hazard file (with keyword arguments of :func:`read_hazard`) and inspect it."""
    from rahat.geo.hazards import inspect_hazard, read_hazard

    path, kwargs = spec if isinstance(spec, tuple) else (spec, {})
    layer = read_hazard(path, **kwargs)
    json.dumps(inspect_hazard(layer), allow_nan=False, default=str)
    return Outcome("ok", " ".join(layer.warnings))


@functools.cache
def _known_units() -> Any:
    from rahat.engine.targeting import known_admin_units

    return known_admin_units()


def run_scenario(source: Path | dict[str, Any], env: Env) -> Outcome:
    """Load a scenario file (or mapping) and check its admin units, as ``rahat run`` does."""
    from rahat.engine.targeting import load_scenario, validate_against

    validate_against(load_scenario(source), _known_units())
    return Outcome("ok")


def _fill(value: Any, names: dict[str, str]) -> Any:
    """``value`` with every ``{name}`` placeholder of ``names`` replaced, recursively."""
    if isinstance(value, str):
        for key, text in names.items():
            value = value.replace("{" + key + "}", text)
        return value
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


def run_cli(args: list[str], env: Env) -> Outcome:
    """``rahat ARGS`` in-process; ``{registry}`` and ``{out}`` name the registry and out folder."""
    from typer.testing import CliRunner

    from rahat.api.cli.main import app

    args = _fill(args, {"registry": str(env.registry), "out": str(env.out), "tmp": str(env.tmp)})
    state = env.tmp / "state"
    variables = {
        "COLUMNS": "200",
        "RAHAT_STATE_DIR": str(state),
        "RAHAT_DATABASE_URL": f"sqlite:///{state / 'rahat.db'}",
    }
    result = CliRunner().invoke(app, args, env=variables)
    text = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        exc = result.exception
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return Outcome(f"uncaught {type(exc).__name__}", text + "\n" + trace)
    return Outcome(result.exit_code, text)


def run_http(request: dict[str, Any], env: Env) -> Outcome:
    """One request to the service: ``who`` (a role, or None) and ``httpx`` arguments."""
    service = env.service
    names = {
        "run_id": service.run_id,
        "other_run_id": service.other_run_id,
        "planner_run_id": service.planner_run_id,
        "hazard_id": service.hazard_id,
    }
    request = dict(request)
    method, url = request.pop("method", "GET"), _fill(request.pop("url"), names)
    who = request.pop("who", "agency")
    headers = {**service.headers(who), **request.pop("headers", {})}
    if "json" in request:
        request["json"] = _fill(request["json"], names)
    response = service.client.request(method, url, headers=headers, **request)
    text = response.text if "image/" not in response.headers.get("content-type", "") else ""
    allow = response.headers.get("allow")
    return Outcome(response.status_code, text + (f"\nAllow: {allow}" if allow else ""))


RUNNERS: dict[str, Callable[[Any, Env], Outcome]] = {
    "registry": run_registry,
    "hazard": run_hazard,
    "scenario": run_scenario,
    "cli": run_cli,
    "http": run_http,
}
