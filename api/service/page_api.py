"""What the planners' page asks of the server besides the API's figures.

* :func:`whoami`: the caller's organisation, role, the views the role may open and, for an
  NGO, the agreement it is served under (units, fields, validity). The page hides what the
  role may not see; the API refuses it anyway.
* :func:`scenario_controls`: the what-if controls of a named scenario (the parameters the
  synchronous what-if may override, with their current values and ranges), so the page draws
  sliders and fields for whatever the scenario holds.
* :func:`variant_yaml`: a scenario with overrides, as YAML a planner saves and runs later. It
  is built from the scenario file as written (relative paths), never from the server's
  resolved copy, so no server path leaves the server.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rahat.api.service.enums import Role

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from rahat.api.service.security import Principal
    from rahat.api.service.settings import Settings
    from rahat.engine.targeting.scenario import Scenario

#: The page's views each role may open (admins: all).
VIEWS: dict[str, tuple[str, ...]] = {
    Role.ADMIN: ("plan", "compare", "runs", "upload"),
    Role.AGENCY: ("plan", "compare", "runs", "upload"),
    Role.PLANNER: ("plan", "compare", "runs"),
    Role.NGO: ("runs",),
}

#: Levels a quota may be set at from the page.
QUOTA_LEVELS = ("province", "district", "tehsil")


@dataclass(frozen=True)
class Control:
    """One what-if control of the page: an override key, its value and how to edit it."""

    key: str
    label: str
    kind: str  # "range", "number" or "select"
    value: float | int | str | None
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    options: tuple[str, ...] = ()
    #: Prefix of the page's label of each option (``level`` -> ``level_district``).
    option_label: str = "level"

    def as_json(self) -> dict[str, Any]:
        """The control as the page reads it."""
        out: dict[str, Any] = {"key": self.key, "label": self.label, "kind": self.kind}
        out["value"] = self.value
        if self.kind == "select":
            out["options"] = list(self.options)
            out["option_label"] = self.option_label
        else:
            out |= {"min": self.minimum, "max": self.maximum, "step": self.step}
        return out


def whoami(session: Session, principal: Principal) -> dict[str, Any]:
    """The caller as the page shows it: organisation, role, views and agreement (NGOs)."""
    from rahat.api.service.security import active_agreement

    agreement = None
    if principal.role == Role.NGO:
        found = active_agreement(session, principal.organisation_id)
        if found is not None:
            agreement = {
                "id": found.id,
                "units": list(found.admin_units),
                "fields": list(found.fields),
                "valid_from": found.valid_from.isoformat(),
                "valid_to": found.valid_to.isoformat(),
                "purpose": found.purpose,
            }
    return {
        "organisation": principal.organisation,
        "role": principal.role,
        "views": list(VIEWS.get(principal.role, ())),
        "agreement": agreement,
        "today": dt.datetime.now(dt.UTC).date().isoformat(),
    }


def _intensity_bound(value: float | None) -> float:
    return max(1.0, 4.0 * float(value or 0.0))


def scenario_controls(scenario: Scenario) -> list[Control]:
    """The what-if controls of ``scenario``: every overridable parameter it sets.

    Keys are the what-if's override keys (aliases, a hazard rule's layer, dotted paths), so
    the page sends them to ``POST /whatif`` as they are.
    """
    controls: list[Control] = []
    eligibility = scenario.eligibility
    if eligibility.pmt_cutoff is not None:
        controls.append(
            Control("pmt_cutoff", "pmt_cutoff", "range", eligibility.pmt_cutoff, 0, 100, 0.5)
        )
    seen: set[str] = set()
    for rule in eligibility.hazard:
        bound = rule.min_intensity if rule.max_intensity is None else rule.max_intensity
        if bound is None or rule.layer in seen:
            continue  # a class rule, or a later rule on a layer (the key names the first)
        seen.add(rule.layer)
        top = _intensity_bound(bound)
        controls.append(Control(rule.layer, "hazard_threshold", "range", bound, 0, top, 0.05))
    if scenario.benefit.kind == "fixed" and scenario.benefit.amount is not None:
        controls.append(
            Control("amount", "benefit", "number", scenario.benefit.amount, 0, 10**7, 500)
        )
    budget = scenario.budget
    controls.append(Control("budget", "budget", "number", budget.total, 0, 10**13, 1_000_000))
    if scenario.quotas is not None:
        controls.append(
            Control(
                "quotas.level", "quota_level", "select", scenario.quotas.level, options=QUOTA_LEVELS
            )
        )
        modes = ("proportional", "fixed") if scenario.quotas.shares else ("proportional",)
        modes = modes if scenario.quotas.mode in modes else (scenario.quotas.mode, *modes)
        controls.append(
            Control(
                "quotas.mode",
                "quota_mode",
                "select",
                scenario.quotas.mode,
                options=modes,
                option_label="mode",
            )
        )
    for name, weight in scenario.priority.weights.model_dump().items():
        controls.append(
            Control(f"priority.weights.{name}", f"weight_{name}", "range", weight, 0, 1, 0.05)
        )
    return controls


def named_scenarios(settings: Settings) -> list[dict[str, Any]]:
    """The server's scenario files with their description and what-if controls.

    A file that does not load is listed with its problem instead of controls.
    """
    from rahat.api.service.scenarios import SCENARIO_NAME, read_named_scenario
    from rahat.engine.targeting.scenario import load_scenario
    from rahat.geo.errors import InputError

    listed: list[dict[str, Any]] = []
    for path in sorted(settings.scenarios_dir.glob("*")):
        if not SCENARIO_NAME.match(path.name):
            continue
        try:
            scenario = load_scenario(read_named_scenario(settings, path.name))
        except InputError as exc:
            listed.append({"name": path.name, "problem": str(exc), "controls": []})
            continue
        listed.append(
            {
                "name": path.name,
                "title": scenario.name,
                "description": scenario.description,
                "controls": [c.as_json() for c in scenario_controls(scenario)],
            }
        )
    return listed


def variant_yaml(settings: Settings, scenario_name: str, overrides: dict[str, Any]) -> str:
    """The named scenario with ``overrides`` applied, as a scenario file's YAML.

    The name gets ``_whatif`` appended; paths stay as the scenario file writes them.
    """
    import json

    import yaml

    from rahat.api.service.scenarios import read_named_scenario
    from rahat.engine.targeting.scenario import load_scenario
    from rahat.engine.whatif import variant_of

    base = load_scenario(read_named_scenario(settings, scenario_name))
    variant, resolved = variant_of(base, overrides)
    data = variant.model_dump(mode="json", exclude_none=True)
    data["name"] = f"{base.name}_whatif"[:200]
    changes = ", ".join(f"{key}={json.dumps(value)}" for key, value in resolved.items())
    header = f"# {base.name} with {changes} (saved from Rahat's what-if page)\n"
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


#: Manifest sections a run's reader gets, and within them the keys (never a server path).
_MANIFEST_KEYS: dict[str, tuple[str, ...]] = {
    "registry": ("households", "rejected_rows", "sha256"),
    "hazards": ("kind", "sha256"),
    "outputs": ("file", "sha256"),
}


def public_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """The provenance of a run's ``manifest.json`` as the page shows it: versions and hashes.

    Keeps the scenario's name and hash, the seed, the version, the registry's size and hash,
    each hazard's kind and hash and each output's file name and hash; drops paths (server
    paths) and figures (the run's summary serves those, suppressed).
    """
    out: dict[str, Any] = {
        key: manifest.get(key) for key in ("scenario", "scenario_sha256", "seed", "rahat_version")
    }
    registry = manifest.get("registry") or {}
    out["registry"] = {key: registry.get(key) for key in _MANIFEST_KEYS["registry"]}
    for section in ("hazards", "outputs"):
        entries = manifest.get(section) or {}
        out[section] = {
            str(name): {key: (entry or {}).get(key) for key in _MANIFEST_KEYS[section]}
            for name, entry in entries.items()
        }
    return out
