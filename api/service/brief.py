"""The printable brief of a run: one self-contained HTML file a planner takes into the meeting.

The brief states the scenario in words, the totals, a map, the figures by unit, the cut line,
the data sources and the manifest's hashes. It needs nothing but itself: styles are inline,
the map is a ``data:`` PNG, there is no script and no external address, and a browser prints
it to A4 (or PDF) with page breaks before the big tables.

By default it shows what callers under the k threshold see: the published aggregates
(:func:`rahat.api.service.aggregates.published`, blanked rows "withheld") and the aggregate
district map (:mod:`rahat.api.service.maps`); never a household, an id or a coordinate. Every
string from the run (scenario, unit and file names) is escaped.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from rahat.api.service.aggregates import published
from rahat.api.service.brief_text import Grouping, group_digits, rupees, scenario_sentences
from rahat.api.service.suppression import is_small, row_is_sensitive
from rahat.geo.errors import InputError

#: Attribution of the admin boundaries drawn on every map.
BOUNDARIES = "OSM (ODbL); Sindh P-codes OCHA COD-AB"
#: Levels the brief can tabulate, besides provinces.
LEVELS = ("district", "tehsil")

_CSS = """
body{font:11pt/1.4 Georgia,'Times New Roman',serif;color:#222;max-width:60em;margin:2em auto;
padding:0 1em}
h1{font-size:18pt;margin:0 0 .2em}h2{font-size:13pt;border-bottom:1px solid #999;
margin-top:1.6em}
.meta{color:#555;font-size:9.5pt}.note{color:#555;font-size:9pt}
table{border-collapse:collapse;width:100%;font-size:9.5pt;margin:.5em 0}
th,td{border:1px solid #bbb;padding:2px 6px;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.w{color:#777;font-style:italic;text-align:right}
code{font:8.5pt monospace;word-break:break-all}
img{max-width:100%;height:auto;border:1px solid #ccc}
@media print{@page{size:A4;margin:15mm}body{margin:0;max-width:none;font-size:10pt}
.big{page-break-before:always;break-before:page}tr,img{page-break-inside:avoid}
img{max-height:220mm;width:auto}}
"""


@dataclass(frozen=True)
class BriefOptions:
    """How the brief is written.

    Attributes
    ----------
    k
        Suppression threshold of the figures; ``None`` shows full figures (operators, admins).
    level
        Finest table: ``district`` or ``tehsil`` (provinces are always shown).
    grouping
        Digit grouping of numbers (:func:`rahat.api.service.brief_text.group_digits`).
    """

    k: int | None = 10
    level: str = "district"
    grouping: Grouping = "intl"


@dataclass(frozen=True)
class ScenarioText:
    """The scenario a brief describes: its fields (``None``: unknown) and where they came from."""

    fields: Mapping[str, Any] | None
    source: str


def read_manifest(run_dir: Path, *, required: bool = True) -> dict[str, Any]:
    """The ``manifest.json`` of the run folder ``run_dir``.

    Raises
    ------
    rahat.geo.errors.InputError
        If ``run_dir`` has no caseload, or (``required``) no readable manifest object.
    """
    if not (run_dir / "caseload.parquet").is_file():
        raise InputError(f"{run_dir} is not a run folder (no caseload.parquet)")
    path = run_dir / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if required:
            raise InputError(f"{run_dir} has no manifest.json") from None
        return {}
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        if required:
            raise InputError(f"{path} is not a readable manifest ({exc})") from None
        return {}
    if not isinstance(data, dict):
        if required:
            raise InputError(f"{path} is not a manifest (not a JSON object)")
        return {}
    return data


def scenario_of(manifest: Mapping[str, Any], path: Path | None = None) -> ScenarioText:
    """The scenario file of a run, checked against the manifest's ``scenario_sha256``.

    ``path`` is the file to use (an unreadable one raises); without one, the shipped scenario
    named in the manifest (:func:`rahat.geo.paths.scenarios_dir`), if any. A budget given
    as ``same_as`` is hashed as the run resolved it (the manifest's ``budget_total``). A file
    whose hash differs is still described, with a note saying so; none found: the brief
    names the scenario only.
    """
    from rahat.engine.targeting.budget import find_scenario
    from rahat.engine.targeting.scenario import load_scenario
    from rahat.engine.targeting.scenario_files import read_scenario_file
    from rahat.geo.errors import RahatError
    from rahat.geo.paths import scenarios_dir

    if path is None:
        try:
            path = find_scenario(str(manifest.get("scenario", "")), scenarios_dir())
            load_scenario(path)
        except (RahatError, OSError):
            return ScenarioText(None, "The scenario file of this run was not found.")
    fields = read_scenario_file(path)
    scenario = load_scenario(path)
    total = (manifest.get("totals") or {}).get("budget_total")
    if scenario.budget.same_as and total is not None:
        budget = scenario.budget.model_copy(update={"total": total, "same_as": None})
        scenario = scenario.model_copy(update={"budget": budget})
    digest = hashlib.sha256(scenario.canonical_json().encode()).hexdigest()
    if digest == manifest.get("scenario_sha256"):
        return ScenarioText(fields, f"Scenario file {path.name}: its sha256 matches the run's.")
    return ScenarioText(
        fields,
        f"Scenario file {path.name}: its sha256 differs from the run's; it may have been "
        "edited since the run.",
    )


def _number(value: Any, grouping: Grouping) -> str:
    return "-" if value is None else group_digits(value, grouping)


class _Page:
    """The HTML of a brief, built from escaped pieces."""

    def __init__(self, options: BriefOptions) -> None:
        self.options = options
        self.parts: list[str] = []
        k = options.k
        self.withheld = f"withheld (&lt; {k})" if k is not None else "withheld"

    def add(self, markup: str) -> None:
        self.parts.append(markup)

    def heading(self, text: str, big: bool = False) -> None:
        self.add(f"<h2{' class=big' if big else ''}>{escape(text)}</h2>")

    def para(self, text: str, cls: str = "") -> None:
        self.add(f"<p{f' class={cls}' if cls else ''}>{escape(text)}</p>")

    def bullets(self, items: list[str]) -> None:
        self.add("<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>")

    def table(self, head: list[str], rows: list[list[str | None]], numeric_from: int) -> None:
        """A table; cells are plain text (``None``: withheld), numeric from a column on."""
        cells = [
            f'<th class="n">{escape(h)}</th>' if i >= numeric_from else f"<th>{escape(h)}</th>"
            for i, h in enumerate(head)
        ]
        self.add("<table><thead><tr>" + "".join(cells) + "</tr></thead><tbody>")
        for row in rows:
            tds = []
            for i, cell in enumerate(row):
                if cell is None:
                    tds.append(f'<td class="w">{self.withheld}</td>')
                else:
                    tds.append(f"<td{' class=n' if i >= numeric_from else ''}>{escape(cell)}</td>")
            self.add("<tr>" + "".join(tds) + "</tr>")
        self.add("</tbody></table>")


def _figures(row: Mapping[str, Any], grouping: Grouping) -> list[str | None]:
    """Considered, eligible, selected, people and amount of a published row (``None``: blank)."""
    if row.get("suppressed"):
        return [None] * 5
    counts = [_number(row.get(n), grouping) for n in ("households", "eligible", "selected")]
    people = _number(row.get("persons_selected"), grouping)
    return [*counts, people, rupees(row.get("benefit") or 0, grouping)]


_FIGURE_HEAD = ["Households considered", "Eligible", "Selected", "People", "Amount"]
#: Tables of the brief: level, title, the unit's columns and their headings.
_TABLES = (
    ("province", "By province", ("province",), ("Province",)),
    (
        "district",
        "By district",
        ("province", "district", "district_pcode"),
        ("Province", "District", "P-code"),
    ),
    (
        "tehsil",
        "By tehsil",
        ("district", "tehsil", "tehsil_pcode"),
        ("District", "Tehsil", "P-code"),
    ),
)


def _unit_tables(page: _Page, view: Mapping[str, Any]) -> None:
    """One table per level down to the brief's level, each on a new printed page."""
    grouping = page.options.grouping
    for level, title, keys, head in _TABLES:
        if level == "tehsil" and page.options.level != "tehsil":
            continue
        rows: list[list[str | None]] = [
            [*(str(r.get(c) or "-") for c in keys), *_figures(r, grouping)] for r in view[level]
        ]
        page.heading(title, big=True)
        page.table([*head, *_FIGURE_HEAD], rows, len(keys))


@dataclass(frozen=True)
class _Caseload:
    """National figures read from the caseload: exposure and the cut line."""

    exposed: int | None
    bottom40: int | None
    bottom40_reached: int | None
    last_rank: int | None
    last_score: float | None
    lowest_score: float | None
    best_left_out: float | None
    cut: dict[str, int]


def _read_caseload(run_dir: Path) -> _Caseload:
    import pyarrow.parquet as pq

    path = run_dir / "caseload.parquet"
    wanted = ("rank", "selected", "eligible", "exposed", "bottom40", "score", "decision")
    names = [n for n in wanted if n in pq.read_schema(path).names]
    frame = pq.read_table(path, columns=names).to_pandas()
    n = len(frame)
    selected = frame["selected"].fillna(False).astype(bool) if "selected" in frame else None
    eligible = frame["eligible"].fillna(False).astype(bool) if "eligible" in frame else None
    exposed = frame["exposed"].fillna(False).astype(bool) if "exposed" in frame else None
    bottom40 = None
    reached = None
    if exposed is not None and "bottom40" in frame:
        poor = exposed & frame["bottom40"].fillna(False).astype(bool)
        bottom40 = int(poor.sum())
        reached = int((poor & selected).sum()) if selected is not None else None
    last_rank = last_score = lowest = best_out = None
    cut: dict[str, int] = {}
    if selected is not None and selected.any() and "score" in frame:
        chosen = frame[selected]
        lowest = float(chosen["score"].min())
        if "rank" in frame:
            last = chosen.loc[chosen["rank"].idxmax()]
            last_rank, last_score = int(last["rank"]), float(last["score"])
    if selected is not None and eligible is not None and n:
        left = frame[eligible & ~selected]
        if len(left) and "score" in left:
            best_out = float(left["score"].max())
        if "decision" in left:
            decisions = left["decision"].astype(str)
            cut = {d: int((decisions == d).sum()) for d in ("cut_budget", "cut_quota")}
        else:
            cut = {"cut": len(left)}
    return _Caseload(
        exposed=int(exposed.sum()) if exposed is not None else None,
        bottom40=bottom40,
        bottom40_reached=reached,
        last_rank=last_rank,
        last_score=last_score,
        lowest_score=lowest,
        best_left_out=best_out,
        cut=cut,
    )


def _hidden(value: int | None, k: int | None, totals_hidden: bool) -> bool:
    """Whether a national count must be withheld under ``k``."""
    return k is not None and (totals_hidden or is_small(value, k))


def _totals(page: _Page, totals: Mapping[str, Any], case: _Caseload) -> None:
    grouping, k = page.options.grouping, page.options.k
    hidden = bool(totals.get("suppressed"))
    share: str | None = "not recorded"
    if case.bottom40:
        share = f"{(case.bottom40_reached or 0) / case.bottom40:.1%}"
        counts = {"exposed": case.bottom40, "reached": case.bottom40_reached}
        if k is not None and (hidden or row_is_sensitive(counts, tuple(counts), k)):
            share = None
    exposed = None if _hidden(case.exposed, k, hidden) else _number(case.exposed, grouping)
    rows = [
        ["Households selected", None if hidden else _number(totals.get("selected"), grouping)],
        ["People in them", None if hidden else _number(totals.get("persons_selected"), grouping)],
        ["Amount", None if hidden else rupees(totals.get("benefit") or 0, grouping)],
        ["Households exposed to the hazard", exposed],
        ["Share of the exposed bottom-40% households reached", share],
    ]
    page.heading("Totals")
    page.table(["", "Figure"], rows, 1)


def _cut_line(page: _Page, case: _Caseload, totals: Mapping[str, Any], amounts: Mapping) -> None:
    grouping, k = page.options.grouping, page.options.k
    hidden = bool(totals.get("suppressed"))
    lines = []
    if case.last_rank is not None and case.last_score is not None:
        lines.append(
            f"The last household selected is number {group_digits(case.last_rank, grouping)} "
            f"in the priority ranking, with a score of {case.last_score:.3f}; the lowest "
            f"score selected is {(case.lowest_score or 0):.3f}."
        )
    if case.best_left_out is not None:
        best = case.best_left_out
        lines.append(f"The best-scored eligible household left out scores {best:.3f}.")
    items = [escape(line) for line in lines]
    labels = {
        "cut_budget": "eligible households were left out by the budget",
        "cut_quota": "eligible households were left out by the quotas",
        "cut": "eligible households were left out by the budget or the quotas",
    }
    for key, count in case.cut.items():
        if not count:
            continue
        shown = escape(group_digits(count, grouping))
        if _hidden(count, k, hidden):
            shown = page.withheld
        items.append(f"{shown} {escape(labels[key])}.")
    if amounts.get("unspent") is not None:
        unspent = rupees(amounts["unspent"], grouping)
        items.append(escape(f"{unspent} of the budget is left unspent."))
    if case.cut and not any(case.cut.values()):
        items.append("Every eligible household was selected: the budget did not bind.")
    page.heading("The cut line")
    if not items:
        items.append("The run records no ranking.")
    page.add("<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>")


def _sources(page: _Page, manifest: Mapping[str, Any]) -> None:
    grouping = page.options.grouping
    items = []
    registry = manifest.get("registry") or {}
    if registry:
        items.append(
            f"Household registry: {registry.get('source') or 'unnamed'}, "
            f"{_number(registry.get('households'), grouping)} households"
            f" ({_number(registry.get('rejected_rows') or 0, grouping)} rows rejected)."
        )
    for name, layer in (manifest.get("hazards") or {}).items():
        items.append(f"Hazard '{name}': {layer.get('kind')}, from {layer.get('path')}.")
    items.append(f"Admin boundaries: {BOUNDARIES}.")
    if manifest.get("rahat_version"):
        items.append(f"Rahat {manifest['rahat_version']}, seed {manifest.get('seed')}.")
    page.heading("Data sources")
    page.bullets(items)


def manifest_hashes(node: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every sha256 of a manifest as ``(name, hex)``: ``registry``, ``outputs.map``, ..."""
    if not isinstance(node, Mapping):
        return
    for key, value in node.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if key == "sha256" and isinstance(value, str):
            file = node.get("file")
            yield (prefix or "sha256") + (f" ({file})" if isinstance(file, str) else ""), value
        elif str(key).endswith("_sha256") and isinstance(value, str):
            yield name.removesuffix("_sha256"), value
        else:
            yield from manifest_hashes(value, name)


def render_brief(
    run_dir: Path,
    *,
    run_id: str,
    manifest: Mapping[str, Any],
    scenario: ScenarioText,
    options: BriefOptions,
    map_png: bytes | None,
    generated: dt.datetime | None = None,
) -> str:
    """The brief of the run in ``run_dir`` as one self-contained HTML document.

    Parameters
    ----------
    run_dir
        Artifact folder of a finished run (``caseload.parquet``).
    run_id
        Name of the run shown in the title (a service run id, or the folder's name).
    manifest
        The run's ``manifest.json`` (:func:`read_manifest`; empty when the run has none).
    scenario
        The scenario to describe (:func:`scenario_of`).
    options
        Threshold, table level and digit grouping.
    map_png
        The map to embed (the aggregate map under a threshold); ``None``: no map.
    generated
        Time printed as the brief's date (default now, UTC).
    """
    if options.level not in LEVELS:
        raise InputError(f"unknown level '{options.level}'; use district or tehsil")
    view = published(run_dir, options.k)
    case = _read_caseload(run_dir)
    amounts = manifest.get("totals") or {}
    name = str(manifest.get("scenario") or (scenario.fields or {}).get("name") or run_id)
    when = (generated or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC")
    page = _Page(options)
    k = options.k
    shown = "full figures" if k is None else f"figures of fewer than {k} households withheld"
    page.add(f"<h1>Relief targeting brief: {escape(name)}</h1>")
    page.para(f"Run {run_id} · {when} · {shown}", "meta")
    page.heading("The scenario in words")
    fields = scenario.fields
    if fields is not None and fields.get("description"):
        page.para(str(fields["description"]))
    if fields is not None:
        page.bullets(scenario_sentences(fields, amounts, options.grouping))
    page.para(scenario.source, "note")
    _totals(page, view["totals"], case)
    page.heading("Map")
    if map_png is None:
        page.para("The run has no map.", "note")
    else:
        data = base64.b64encode(map_png).decode("ascii")
        page.add(f'<img alt="Selected households by district" src="data:image/png;base64,{data}">')
    _unit_tables(page, view["levels"])
    _cut_line(page, case, view["totals"], amounts)
    _sources(page, manifest)
    page.heading("Manifest hashes")
    hashes = [[label, digest] for label, digest in manifest_hashes(manifest)]
    if hashes:
        page.add("<table><thead><tr><th>Input or output</th><th>sha256</th></tr></thead><tbody>")
        for label, digest in hashes:
            page.add(f"<tr><td>{escape(label)}</td><td><code>{escape(digest)}</code></td></tr>")
        page.add("</tbody></table>")
    else:
        page.para("The run has no manifest.", "note")
    body = "\n".join(page.parts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(name)}: relief targeting brief</title><style>{_CSS}</style></head>"
        f"<body>\n{body}\n</body></html>\n"
    )
