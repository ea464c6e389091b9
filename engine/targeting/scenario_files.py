"""Reading scenario files safely, and resolving the file paths a scenario names.

A scenario file is read only when it is small, UTF-8 text and shallow: at most
:data:`MAX_SCENARIO_BYTES`, no NUL bytes, at most :data:`MAX_NESTING` levels of nested
mappings/lists, at most :data:`MAX_NODES` YAML nodes and no anchors/aliases (``&x``/``*x``,
which let a small file expand into an enormous one: "billion laughs"). The limits are checked
on the YAML event stream, which stops at the first excess, so a hostile file costs
milliseconds and never reaches PyYAML's recursive composer. Every refusal is a
:class:`~rahat.geo.errors.ScenarioError` with a one-line message. The same limits apply to a
scenario that arrives already parsed (the API's inline scenarios): :func:`check_shape`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rahat.geo.errors import ScenarioError, UnreadableFileError
from rahat.geo.paths import repo_root

#: Largest scenario file, or inline scenario as JSON, in bytes (real ones are a few KB).
MAX_SCENARIO_BYTES = 1_000_000

#: Deepest nesting of mappings and lists (real scenarios nest 5 deep).
MAX_NESTING = 20

#: Most YAML nodes (scalars, mappings, lists) in one scenario (the schema's lists fit).
MAX_NODES = 50_000


def read_scenario_file(path: Path) -> Any:
    """Return the parsed content of a YAML/JSON scenario file, within the limits.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    Any
        What the file holds (a scenario is a mapping; the caller checks that).

    Raises
    ------
    rahat.geo.errors.ScenarioError
        If the file is too large, not UTF-8 text, too deeply nested, too big in nodes or uses
        YAML aliases.
    rahat.geo.errors.UnreadableFileError
        If it cannot be opened or is not valid YAML/JSON.
    """
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_SCENARIO_BYTES + 1)  # never more than the cap
    except OSError as exc:
        raise UnreadableFileError(
            f"cannot read scenario file: {exc.strerror or exc}", source=path
        ) from None
    if len(raw) > MAX_SCENARIO_BYTES:
        raise ScenarioError(
            f"scenario file larger than {MAX_SCENARIO_BYTES:,} bytes; a scenario is a few KB",
            source=path,
        )
    if b"\x00" in raw:
        raise ScenarioError(
            "not a text file (binary content); write the scenario as YAML or JSON", source=path
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"not UTF-8 text (byte {exc.start}); save the scenario as UTF-8", source=path
        ) from None
    return parse_scenario_text(text, source=path)


def parse_scenario_text(text: str, source: str | Path | None = None) -> Any:
    """Parse YAML/JSON ``text`` within :data:`MAX_NESTING`, :data:`MAX_NODES`, no aliases.

    Raises
    ------
    rahat.geo.errors.ScenarioError
        On a limit exceeded.
    rahat.geo.errors.UnreadableFileError
        If it is not valid YAML/JSON.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 10x faster
    try:
        _check_events(yaml.parse(text, Loader=loader), source)
        return yaml.load(text, Loader=loader)  # a safe loader; JSON is YAML too
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(exc):  # libyaml's own limit, met while scanning
            raise _too_deep(source) from None
        raise UnreadableFileError(f"not valid YAML/JSON: {_one_line(exc)}", source=source) from None
    except RecursionError:  # not expected after the checks; refused all the same
        raise _too_deep(source) from None


def _check_events(events: Any, source: str | Path | None) -> None:
    import yaml

    depth = nodes = 0
    for event in events:
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise ScenarioError(
                "YAML anchors and aliases (&name, *name) are not allowed in scenarios; "
                "write the values out",
                source=source,
            )
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                raise _too_deep(source)
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1
            continue
        elif not isinstance(event, yaml.ScalarEvent):
            continue
        nodes += 1
        if nodes > MAX_NODES:
            raise _too_many(source)


def _too_deep(source: str | Path | None) -> ScenarioError:
    return ScenarioError(
        f"nested more than {MAX_NESTING} levels deep; a scenario nests about 5", source=source
    )


def _too_many(source: str | Path | None) -> ScenarioError:
    return ScenarioError(
        f"more than {MAX_NODES:,} values; a scenario is far smaller", source=source
    )


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:299] + "…"


def check_shape(data: Any, source: str | None = None) -> None:
    """Refuse parsed scenario ``data`` beyond :data:`MAX_NESTING`, :data:`MAX_NODES` or size.

    Walks ``data`` without recursion, so any depth is refused quickly.

    Raises
    ------
    rahat.geo.errors.ScenarioError
        On a limit exceeded.
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise _too_many(source)
        if isinstance(node, Mapping | list | tuple):
            if depth > MAX_NESTING:
                raise _too_deep(source)
            children = node.values() if isinstance(node, Mapping) else node
            stack.extend((child, depth + 1) for child in children)
    try:
        size = len(json.dumps(data, default=str, ensure_ascii=False).encode())
    except (TypeError, ValueError):
        return  # not JSON-shaped; the schema will say what is wrong
    if size > MAX_SCENARIO_BYTES:
        raise ScenarioError(
            f"scenario larger than {MAX_SCENARIO_BYTES:,} bytes as JSON; a scenario is a few KB",
            source=source,
        )


def read_document(source: str | Path | Mapping[str, Any]) -> tuple[Any, str | None, Path | None]:
    """What a file or an already parsed mapping holds, within the limits above.

    Returns
    -------
    (Any, str or None, pathlib.Path or None)
        The content, where it came from (the file, for messages) and the folder its relative
        paths start from (``None`` for a mapping).
    """
    if isinstance(source, Mapping):
        data = dict(source)
        check_shape(data)
        return data, None, None
    path = Path(source)
    return read_scenario_file(path), str(path), path.resolve().parent


def resolve_scenario_path(path: str, base_dir: Path | None) -> Path:
    """Resolve a file path written in a scenario: the one rule of the CLI and the API.

    1. An absolute path (``~`` expanded) is used as it is.
    2. A relative path is looked up in ``base_dir``, the folder of the scenario file
       (``scenarios/`` for the shipped ones, the server's scenarios folder for the API).
    3. If it is not there, in the repository root, where ``data/`` lives, so that a shipped
       scenario names ``data/hazard/...`` wherever it is run from.
    4. If it is in neither, the path under ``base_dir`` is returned (the current folder when
       the scenario comes from no file), so that the error names where it was expected.

    ``demo:NAME`` layers never reach here (:func:`rahat.engine.pipeline.hazard_path`). The
    API lets only scenario files of the server's own scenarios folder read files (an inline
    scenario may not name server paths); it applies this rule when the run is created.
    """
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    if base_dir is not None and (base_dir / p).exists():
        return base_dir / p
    if (repo_root() / p).exists():
        return repo_root() / p
    return (base_dir or Path.cwd()) / p
