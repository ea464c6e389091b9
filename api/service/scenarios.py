"""Scenarios of API runs: server files by name, inline ones, and the files they may read.

A **named** scenario is a file of the server's scenarios folder (``RAHAT_SCENARIOS_DIR``). Its
relative paths resolve exactly as ``rahat run`` resolves them, with
:func:`rahat.engine.targeting.scenario.resolve_scenario_path` (the scenario file's folder,
then the repository root), and are stored absolute with the run, so a re-run reads the same
files. An **inline** scenario (JSON in the request) may read no server file: only uploaded
hazards (by key) and ``demo:`` layers, and no assisted-household lists.

What an agency stated when it uploaded a hazard (``crs``, ``layer``, ``intensity_field``) is
kept with the hazard (:func:`upload_read_options`) and applied to the scenario's layer of that
key when the run executes (:func:`with_upload_options`), unless the scenario states it itself.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rahat.geo.errors import InputError, ScenarioError

if TYPE_CHECKING:
    from rahat.api.service.schemas import ScenarioSource
    from rahat.api.service.settings import Settings

#: A scenario name: a plain file name of the scenarios folder.
SCENARIO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.(ya?ml|json)$")

#: Upload form fields that say how to read the file, applied to runs that use the upload.
READ_OPTIONS: tuple[str, ...] = ("crs", "layer", "intensity_field")

#: Key of the read options inside a hazard's stored ``inspect`` description.
READ_OPTIONS_KEY = "read_options"


def read_named_scenario(settings: Settings, name: str) -> dict[str, Any]:
    """Return the mapping in the server's scenario file ``name`` (a plain file name)."""
    if not SCENARIO_NAME.match(name):
        raise ScenarioError(
            "scenario_name must be a plain file name ending in .yaml, .yml or .json (no folders)",
            source=name,
        )
    path = settings.scenarios_dir / name
    if not path.is_file():
        available = sorted(
            p.name for p in settings.scenarios_dir.glob("*") if SCENARIO_NAME.match(p.name)
        )
        raise ScenarioError(
            f"no such scenario in the server's scenarios folder; available: "
            f"{', '.join(available) or 'none'}",
            source=name,
        )
    from rahat.engine.targeting.scenario_files import read_scenario_file

    try:
        data = read_scenario_file(path)  # size, encoding, nesting and alias limits
    except InputError as exc:  # named by its file name only, never the server path
        raise ScenarioError(exc.detail, source=name) from None
    if not isinstance(data, dict):
        raise ScenarioError("the scenario file must hold a mapping of settings", source=name)
    return data


def absolutise(path: str, base: Path) -> str:
    """Return ``path`` of a scenario file in ``base`` as the CLI would read it, made absolute.

    ``demo:`` layers and absolute paths are returned unchanged.
    """
    from rahat.engine.targeting.scenario import resolve_scenario_path
    from rahat.geo.demo_hazards import DEMO_PREFIX

    if path.startswith(DEMO_PREFIX) or Path(path).expanduser().is_absolute():
        return path
    return str(resolve_scenario_path(path, base.resolve()).resolve())


def prepare_scenario(
    settings: Settings, body: ScenarioSource, hazard_keys: set[str]
) -> dict[str, Any]:
    """Return the scenario to store, validated, with no way to read arbitrary server files.

    A named scenario (a server file) keeps its file paths, made absolute by
    :func:`absolutise`; a layer whose file exists nowhere is refused now (422) unless an
    upload replaces it. An inline one may only use uploaded hazards (by key) or ``demo:``
    layers, and no assisted-household lists or zone layers.
    """
    from rahat.engine.targeting.scenario import load_scenario
    from rahat.geo.demo_hazards import DEMO_PREFIX

    if body.scenario_name is not None:
        data = read_named_scenario(settings, body.scenario_name)
    else:
        data = dict(body.scenario or {})
    scenario = load_scenario(data)
    if scenario.budget.reserve_share():
        raise ScenarioError(
            "budget.reserve_for_unregistered: API runs have no coverage-gap table to reserve "
            "from; run the scenario with 'rahat run --gap' or drop the reserve",
            source=body.scenario_name,
        )
    layers = [layer.name for layer in scenario.hazards]
    unknown = sorted(hazard_keys - set(layers))
    if unknown:
        raise ScenarioError(
            f"hazard key(s) {unknown} match no layer of the scenario; its layers are: "
            f"{', '.join(layers) or 'none'}"
        )
    raw_layers = [dict(layer) for layer in data.get("hazards") or []]
    if body.scenario_name is not None:
        base = settings.scenarios_dir
        for i, layer in enumerate(raw_layers):
            written = str(layer["path"])
            layer["path"] = absolutise(written, base)
            uploaded = layer.get("name") in hazard_keys
            local = not uploaded and not written.startswith(DEMO_PREFIX)
            if local and not Path(layer["path"]).exists():
                raise ScenarioError(
                    f"hazards[{i}].path: '{written}' is neither in the scenarios folder nor in "
                    "the repository; fix the path or upload the file with POST /hazards and "
                    f"pass its id under the key '{layer.get('name')}'",
                    source=body.scenario_name,
                )
        eligibility = dict(data.get("eligibility") or {})
        exclude = dict(eligibility.get("exclude") or {})
        if exclude.get("assisted_lists"):
            exclude["assisted_lists"] = [
                absolutise(str(p), base) for p in exclude["assisted_lists"]
            ]
            data["eligibility"] = eligibility | {"exclude": exclude}
        if data.get("zones"):
            data["zones"] = [
                dict(zone) | {"path": absolutise(str(zone["path"]), base)} for zone in data["zones"]
            ]
    else:
        for i, spec in enumerate(scenario.hazards):
            if spec.name not in hazard_keys and not spec.path.startswith(DEMO_PREFIX):
                raise ScenarioError(
                    f"hazards[{i}].path: a scenario sent to the API cannot read files on the "
                    f"server; upload the file with POST /hazards and pass its id in 'hazards' "
                    f"under the key '{spec.name}', or use a '{DEMO_PREFIX}' layer"
                )
        if scenario.eligibility.exclude.assisted_lists:
            raise ScenarioError(
                "eligibility.exclude.assisted_lists: a scenario sent to the API cannot read "
                "files on the server; put the scenario with its lists in the server's "
                "scenarios folder"
            )
        if data.get("zones"):
            raise ScenarioError(
                "zones: a scenario sent to the API cannot read files on the server; put the "
                "scenario with its zone layers in the server's scenarios folder"
            )
    if raw_layers:
        data["hazards"] = raw_layers
    return data


def upload_read_options(fields: Mapping[str, str]) -> dict[str, str]:
    """Return the read options (:data:`READ_OPTIONS`) an upload's form stated."""
    out: dict[str, str] = {}
    for key in READ_OPTIONS:
        value = (fields.get(key) or "").strip()
        if value:
            out[key] = value
    return out


def with_upload_options(
    scenario: Mapping[str, Any],
    hazard_ids: Mapping[str, str],
    inspects: Mapping[str, Mapping[str, Any] | None],
) -> dict[str, Any]:
    """Return ``scenario`` with each uploaded layer's read options filled in.

    Parameters
    ----------
    scenario
        The stored scenario mapping.
    hazard_ids
        Scenario layer name -> hazard id (the run's ``hazards``).
    inspects
        Hazard id -> its stored ``inspect`` description (read options under
        :data:`READ_OPTIONS_KEY`).

    A field the scenario's layer sets itself is kept.
    """
    out = copy.deepcopy(dict(scenario))
    layers = out.get("hazards")
    if not isinstance(layers, list):
        return out
    for layer in layers:
        if not isinstance(layer, dict) or layer.get("name") not in hazard_ids:
            continue
        info = inspects.get(hazard_ids[layer["name"]]) or {}
        options = info.get(READ_OPTIONS_KEY) or {}
        for key in READ_OPTIONS:
            if layer.get(key) is None and options.get(key):
                layer[key] = str(options[key])
    return out
