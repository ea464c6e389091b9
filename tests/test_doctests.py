"""The Examples sections of the public functions users call run as doctests, and stay there."""

from __future__ import annotations

import doctest
import importlib

import pytest

#: Module -> public functions whose docstring must carry a runnable ``Examples`` section.
DOCUMENTED = {
    "rahat.geo.hazards.read": ["read_hazard"],
    "rahat.geo.registry.validate": ["read_registry"],
    "rahat.geo.files": ["sha256_file"],
    "rahat.geo.sidecar": ["sidecar_problem"],
    "rahat.engine.overlay": ["overlay", "sample_hazard"],
    "rahat.engine.targeting.evaluate": ["evaluate"],
    "rahat.engine.targeting.scenario": ["load_scenario"],
}


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    for function in DOCUMENTED[name]:
        doc = getattr(module, function).__doc__ or ""
        assert "Examples\n    --------\n    >>> " in doc, f"{name}.{function} has no Examples"
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
