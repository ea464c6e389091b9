"""Hostile scenarios: YAML tricks, absurd numbers, wrong shapes, paths that leave the folder.

File scenarios go through the loader ``rahat run`` uses (outcome: the error class); a few
run through the CLI (exit code 2) or arrive inline at ``POST /runs`` (HTTP 422).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from cases import Case, folder, write

G = "scenario"


def base() -> dict[str, Any]:
    """A valid scenario using one flood-extent layer ``w``."""
    return {
        "name": "hostile",
        "hazards": [{"name": "w", "path": "w.geojson", "kind": "flood_extent"}],
        "eligibility": {"pmt_cutoff": 40, "hazard": [{"layer": "w", "min_intensity": 0.5}]},
        "benefit": {"kind": "fixed", "amount": 25000},
    }


def with_(dotted: str, value: Any) -> dict[str, Any]:
    """:func:`base` with the field at ``dotted`` (``a.b.0.c``) set to ``value``."""
    doc = copy.deepcopy(base())
    keys = dotted.split(".")
    node: Any = doc
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


def yaml_file(tmp: Path, doc: Any, name: str = "s.yaml") -> Path:
    """``doc`` written as JSON (which is YAML) to ``tmp/name``."""
    return write(tmp, name, json.dumps(doc))


def text_file(text: str | bytes, name: str = "s.yaml") -> Any:
    return lambda t: write(t, name, text)


def doc_file(doc: Any) -> Any:
    return lambda t: yaml_file(t, doc)


def _laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join(f"*{prev}" for _ in range(9)) + "]")
    lines.append("name: *i")
    return "\n".join(lines) + "\n"


def _cli_run(doc: dict[str, Any], hazard: str | None = None) -> Any:
    """``rahat run`` on ``doc`` written to a file (hazard path ``hazard`` if given)."""

    def build(tmp: Path) -> list[str]:
        if hazard is not None:
            doc["hazards"][0]["path"] = hazard
        path = yaml_file(tmp, doc)
        return ["run", str(path), "--registry", "{registry}", "--out", "{out}"]

    return build


def _inline(doc: Any) -> Any:
    return lambda t: {"method": "POST", "url": "/runs", "json": {"scenario": doc}}


def _many_hazards(n: int) -> dict[str, Any]:
    doc = base()
    doc["hazards"] = [
        {"name": f"h{i}", "path": f"h{i}.geojson", "kind": "flood_extent"} for i in range(n)
    ]
    return doc


CASES = [
    Case(
        "yaml-python-tag",
        G,
        text_file('name: !!python/object/apply:os.system ["echo pwned"]\n'),
        "UnreadableFileError",
    ),
    Case("yaml-binary-tag", G, text_file("name: !!binary aGVsbG8=\n"), "ScenarioError"),
    Case("yaml-billion-laughs", G, text_file(_laughs()), "ScenarioError", "alias"),
    Case(
        "yaml-deep-nesting-10000",
        G,
        text_file("name: x\nextra: " + "[" * 10_000 + "]" * 10_000 + "\n"),
        "ScenarioError",
        "nest",
    ),
    Case(
        "yaml-deep-mappings",
        G,
        text_file("name: x\nextra: " + "{a: " * 5_000 + "1" + "}" * 5_000 + "\n"),
        "ScenarioError",
        "nest",
    ),
    Case(
        "yaml-60000-nodes",
        G,
        text_file("name: x\nextra: [" + ",".join(["1"] * 60_000) + "]\n"),
        "ScenarioError",
    ),
    Case("binary-file", G, text_file(bytes(range(256)) * 8), "ScenarioError", "binary"),
    Case(
        "not-utf8",
        G,
        text_file("name: caf\xe9\n".encode("latin-1")),
        "ScenarioError",
        "UTF-8",
    ),
    Case(
        "file-2mb",
        G,
        text_file("name: x\n" + "# padding\n" * 200_000),
        "ScenarioError",
        "larger than",
    ),
    Case("empty-file", G, text_file(""), "ScenarioError", "mapping"),
    Case("a-list", G, doc_file([base()]), "ScenarioError", "mapping"),
    Case("a-number", G, text_file("42\n"), "ScenarioError", "mapping"),
    Case("invalid-yaml", G, text_file("name: [unclosed\n"), "UnreadableFileError"),
    Case("tabs-yaml", G, text_file("name:\n\t- x\n"), "UnreadableFileError"),
    Case("huge-name", G, doc_file(with_("name", "x" * 10_000)), "ScenarioError", "name"),
    Case("budget-1e30", G, doc_file(with_("budget", {"total": 1e30})), "ScenarioError", "budget"),
    Case("budget-negative", G, doc_file(with_("budget", {"total": -5})), "ScenarioError", "budget"),
    Case(
        "budget-nan",
        G,
        text_file(json.dumps(base())[:-1] + ', "budget": {"total": .nan}}'),
        "ScenarioError",
    ),
    Case(
        "budget-inf",
        G,
        text_file(json.dumps(base())[:-1] + ', "budget": {"total": .inf}}'),
        "ScenarioError",
    ),
    Case("amount-negative", G, doc_file(with_("benefit.amount", -100)), "ScenarioError"),
    Case("amount-1e30", G, doc_file(with_("benefit.amount", 1e30)), "ScenarioError"),
    Case(
        "pmt-cutoff-nan",
        G,
        text_file(json.dumps(base()).replace('"pmt_cutoff": 40', '"pmt_cutoff": .nan')),
        "ScenarioError",
    ),
    Case("pmt-cutoff-text", G, doc_file(with_("eligibility.pmt_cutoff", "forty")), "ScenarioError"),
    Case("seed-2-pow-70", G, doc_file(with_("seed", 2**70)), "ScenarioError"),
    Case("unknown-key", G, doc_file(with_("budgett", {"total": 5})), "ScenarioError", "budget"),
    Case(
        "unknown-nested-key",
        G,
        doc_file(with_("eligibility.pmt_cuttoff", 30)),
        "ScenarioError",
        "pmt_cutoff",
    ),
    Case(
        "unknown-layer-reference",
        G,
        doc_file(with_("eligibility.hazard", [{"layer": "nope", "min_intensity": 0.5}])),
        "ScenarioError",
        "nope",
    ),
    Case("hazards-a-string", G, doc_file(with_("hazards", "w.geojson")), "ScenarioError"),
    Case(
        "duplicate-layer-names",
        G,
        doc_file(with_("hazards", base()["hazards"] * 2)),
        "ScenarioError",
    ),
    Case("5000-hazards", G, doc_file(_many_hazards(5_000)), "ScenarioError"),
    Case("benefit-kind-unknown", G, doc_file(with_("benefit.kind", "gold")), "ScenarioError"),
    Case(
        "quota-level-unknown",
        G,
        doc_file(with_("quotas", {"level": "galaxy", "mode": "proportional"})),
        "ScenarioError",
    ),
    Case(
        "rich-markup-name",
        G,
        doc_file(with_("name", "[link=file:///etc/passwd]:100:[/link]")),
        "ok",
    ),
    Case("missing-scenario-file", G, lambda t: t / "nope.yaml", "UnreadableFileError"),
    Case(
        "scenario-is-a-folder",
        G,
        folder("s.yaml"),
        "UnreadableFileError",
    ),
    # through ``rahat run``: files the scenario names are checked when it runs
    Case(
        "cli-missing-hazard-file",
        G,
        _cli_run(base()),
        2,
        "w.geojson",
        runner="cli",
    ),
    Case(
        "cli-hazard-path-traversal",
        G,
        _cli_run(base(), "../../../../../../../../etc/passwd"),
        2,
        runner="cli",
    ),
    Case(
        "cli-hazard-path-dev-zero",
        G,
        _cli_run(base(), "/dev/zero"),
        2,
        runner="cli",
    ),
    # inline at POST /runs
    Case(
        "api-absolute-hazard-path",
        G,
        _inline(with_("hazards.0.path", "/etc/passwd")),
        422,
        runner="http",
    ),
    Case(
        "api-path-traversal",
        G,
        _inline(with_("hazards.0.path", "../../../../etc/passwd")),
        422,
        runner="http",
    ),
    Case("api-budget-1e30", G, _inline(with_("budget", {"total": 1e30})), 422, runner="http"),
    Case("api-unknown-key", G, _inline(with_("bogus", 1)), 422, runner="http"),
    Case("api-scenario-a-list", G, _inline([1, 2]), 422, runner="http"),
    Case(
        "api-deep-nesting",
        G,
        lambda t: {
            "method": "POST",
            "url": "/runs",
            "content": '{"scenario": {"name": "x", "extra": ' + "[" * 5_000 + "]" * 5_000 + "}}",
            "headers": {"content-type": "application/json"},
        },
        400,
        runner="http",
    ),
]
