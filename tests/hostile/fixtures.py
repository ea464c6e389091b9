"""Fixtures of the hostile-input corpus: a small valid registry and a running service.

Imported by ``test_corpus.py`` (not a ``conftest.py``, whose module name would shadow the
``conftest`` of ``tests/api`` that other test modules import helpers from).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def api_helpers() -> ModuleType:
    """``tests/api/conftest.py`` as a plain module (its service and organisation helpers)."""
    name = "rahat_hostile_api_helpers"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "api" / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def hostile_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small valid demo registry (GeoParquet), for CLI cases that need one."""
    from rahat.geo.registry.synth import write_demo

    _, registry = write_demo(300, 7, tmp_path_factory.mktemp("hostile-registry"))
    return registry


@pytest.fixture(scope="session")
def hostile_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The Relief API with every role's key, finished runs and a hazard (SQLite).

    Uploads are capped at 100 kB so that an oversized upload is cheap to send.
    """
    helpers = api_helpers()
    root = tmp_path_factory.mktemp("hostile-service")
    settings = helpers.make_settings(root, max_upload_bytes=100_000, max_runs_per_hour=10_000)
    yield from helpers.start_service(settings)
