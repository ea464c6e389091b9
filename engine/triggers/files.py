"""Load trigger files: YAML or JSON, within the scenario files' limits, strictly validated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rahat.engine.targeting.scenario import describe_error
from rahat.engine.targeting.scenario_checks import raise_problems
from rahat.engine.targeting.scenario_files import read_document
from rahat.engine.triggers.model import Trigger, resolve
from rahat.geo.errors import ScenarioError, TriggerError


@dataclass(frozen=True)
class TriggerFile:
    """A validated trigger and the folder its relative paths start from."""

    trigger: Trigger
    base_dir: Path | None


def load_trigger(source: str | Path | Mapping[str, Any]) -> TriggerFile:
    """Load and validate a trigger from a YAML/JSON file or a mapping.

    Parameters
    ----------
    source
        Path of a ``.yaml``/``.yml``/``.json`` file, or an already parsed mapping.

    Raises
    ------
    rahat.geo.errors.TriggerError
        Listing every problem (field path, what is wrong, the closest valid field name; a
        stage's scenario file that does not exist), or a file beyond the size, nesting or node
        limits of scenario files.
    rahat.geo.errors.UnreadableFileError
        If the file cannot be read or parsed.
    """
    try:
        data, where, base = read_document(source)
    except ScenarioError as exc:  # the shared limits speak of scenarios
        path = None if isinstance(source, Mapping) else str(source)
        raise TriggerError(exc.detail.replace("scenario", "trigger"), source=path) from None
    if not isinstance(data, Mapping):
        raise TriggerError("a trigger file must be a mapping of fields", source=where)
    try:
        trigger = Trigger.model_validate(data)
    except ValidationError as exc:
        problems = [describe_error(err, Trigger) for err in exc.errors()]
        raise_problems(problems, where, TriggerError, "trigger")
        raise AssertionError("unreachable") from None
    if base is not None:
        missing = [
            f"stages.{name}.scenario: no file {stage.scenario}"
            for name, stage in trigger.stages.items()
            if stage.scenario is not None and not resolve(stage.scenario, base).is_file()
        ]
        raise_problems(missing, where, TriggerError, "trigger")
    return TriggerFile(trigger, base)
