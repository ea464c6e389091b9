"""Hostile HTTP requests to the Relief API: no or bad keys, broken bodies, foreign runs,
ungranted fields, absurd parameters, bad uploads.

Each case is one request (``who`` is the organisation whose key is sent, ``None`` for none);
placeholders ``{run_id}`` (the agency's run, published to the NGO), ``{planner_run_id}``
and ``{hazard_id}`` name the service's fixtures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cases import Case
from testkit import zip_bytes

G = "http"
JSON = {"content-type": "application/json"}
FLOOD = {
    "name": "hostile",
    "hazards": [{"name": "w", "path": "upload", "kind": "flood_extent"}],
    "eligibility": {"pmt_cutoff": 40, "hazard": [{"layer": "w", "min_intensity": 0.5}]},
    "benefit": {"kind": "fixed", "amount": 25000},
}


def req(method: str, url: str, who: str | None = "agency", **kw: Any) -> Any:
    """A case input: one request as ``who``."""
    return lambda t: {"method": method, "url": url, "who": who, **kw}


def upload(data: bytes, filename: str = "h.tif", who: str = "agency", **fields: str) -> Any:
    """``POST /hazards`` of ``data`` as ``filename`` with form ``fields``."""
    return req("POST", "/hazards", who, files={"file": (filename, data)}, data=fields)


def _geojson() -> bytes:
    box = [[67.0, 25.0], [68.0, 25.0], [68.0, 26.0], [67.0, 26.0], [67.0, 25.0]]
    feature = {
        "type": "Feature",
        "properties": {"depth": 1.0},
        "geometry": {"type": "Polygon", "coordinates": [box]},
    }
    return json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()


def _real_file_upload(tmp: Path) -> dict[str, Any]:
    return {
        "method": "POST",
        "url": "/hazards",
        "who": "agency",
        "files": {"file": ("f.geojson", _geojson())},
        "data": {"kind": "k" * 51},
    }


BIG = 2 * 1024 * 1024

CASES = [
    # keys
    Case("no-key", G, req("GET", "/runs", None), 401),
    Case(
        "unknown-key",
        G,
        req("GET", "/runs", None, headers={"authorization": "Bearer rahat_" + "x" * 43}),
        401,
    ),
    Case("basic-auth", G, req("GET", "/runs", None, headers={"authorization": "Basic YTpi"}), 401),
    Case("empty-bearer", G, req("GET", "/runs", None, headers={"authorization": "Bearer "}), 401),
    Case(
        "key-100kb",
        G,
        req("GET", "/runs", None, headers={"authorization": "Bearer " + "k" * 100_000}),
        401,
    ),
    Case(
        "non-ascii-key",
        G,
        req("GET", "/runs", None, headers={"authorization": b"Bearer cl\xe9"}),
        401,
    ),
    Case(
        "no-key-post-body", G, req("POST", "/runs", None, content=b"{not json", headers=JSON), 401
    ),
    # bodies
    Case(
        "malformed-json",
        G,
        req("POST", "/runs", content=b"{not json", headers=JSON),
        422,
        "JSON decode error",
    ),
    Case("json-null", G, req("POST", "/runs", json=None, content=b"null", headers=JSON), 422),
    Case(
        "json-nan",
        G,
        req("POST", "/runs", content=b'{"scenario": {"name": NaN}}', headers=JSON),
        422,
    ),
    Case(
        "json-invalid-utf8",
        G,
        req("POST", "/runs", content=b'{"scenario": "\xff\xfe"}', headers=JSON),
        400,
    ),
    Case(
        "huge-json",
        G,
        req("POST", "/runs", content=b'{"x": "' + b"a" * BIG + b'"}', headers=JSON),
        413,
    ),
    Case(
        "wrong-content-type",
        G,
        req(
            "POST",
            "/runs",
            content=json.dumps({"scenario": FLOOD}).encode(),
            headers={"content-type": "text/plain"},
        ),
        422,
    ),
    Case(
        "both-scenario-and-name",
        G,
        req("POST", "/runs", json={"scenario": FLOOD, "scenario_name": "x.yaml"}),
        422,
    ),
    Case(
        "scenario-name-traversal",
        G,
        req("POST", "/runs", json={"scenario_name": "../../etc/passwd"}),
        422,
    ),
    Case(
        "scenario-name-unknown",
        G,
        req("POST", "/runs", json={"scenario_name": "nope.yaml"}),
        422,
        "no such scenario",
    ),
    Case(
        "unknown-hazard-id",
        G,
        req("POST", "/runs", json={"scenario": FLOOD, "hazards": {"w": "nope"}}),
        422,
        "Unknown hazard id",
    ),
    Case("run-as-ngo", G, req("POST", "/runs", "ngo", json={"scenario": FLOOD}), 403),
    # ids, foreign runs, grants
    Case("unknown-run", G, req("GET", "/runs/nope"), 404),
    Case("run-id-traversal", G, req("GET", "/runs/..%2F..%2Fetc%2Fpasswd"), 404),
    Case("run-id-1000-chars", G, req("GET", "/runs/" + "a" * 1000), 422, "at most 64"),
    Case("run-id-unicode", G, req("GET", "/runs/\u202e\u0627\u0644"), 404),
    Case("hazard-id-traversal", G, req("GET", "/hazards/..%2f..%2fetc%2fpasswd"), 404),
    Case("other-orgs-run", G, req("GET", "/runs/{run_id}", "planner"), 404),
    Case("other-orgs-run-map", G, req("GET", "/runs/{planner_run_id}/map.png", "agency"), 404),
    Case("unpublished-run-as-ngo", G, req("GET", "/runs/{planner_run_id}/summary", "ngo"), 403),
    Case(
        "ngo-ungranted-field",
        G,
        req("GET", "/runs/{run_id}/households", "ngo", params={"fields": "household_id"}),
        403,
    ),
    Case(
        "ngo-ungranted-unit",
        G,
        req("GET", "/runs/{run_id}/households", "ngo", params={"unit": "district:Larkana"}),
        403,
    ),
    Case(
        "ngo-expired-agreement",
        G,
        req("GET", "/runs/{run_id}/households", "ngo_expired"),
        403,
        "not in force",
    ),
    Case("ngo-audit", G, req("GET", "/audit", "ngo"), 403),
    Case("ngo-rerun", G, req("POST", "/runs/{run_id}/rerun", "ngo"), 403),
    Case("ngo-hazard", G, req("GET", "/hazards/{hazard_id}", "ngo"), 403),
    Case("ngo-upload", G, upload(b"x", who="ngo"), 403),
    Case(
        "planner-publish",
        G,
        req("POST", "/runs/{run_id}/publish", "planner", json={"agreements": [1]}),
        403,
    ),
    Case(
        "publish-unknown-agreement",
        G,
        req("POST", "/runs/{run_id}/publish", json={"agreements": [999_999]}),
        422,
        "no data-sharing agreement",
    ),
    Case(
        "publish-agreement-0",
        G,
        req("POST", "/runs/{run_id}/publish", json={"agreements": [0]}),
        422,
    ),
    Case(
        "publish-1001-agreements",
        G,
        req("POST", "/runs/{run_id}/publish", json={"agreements": [1] * 1001}),
        422,
    ),
    Case(
        "compare-unknown-runs",
        G,
        req("POST", "/runs/compare", json={"run_a": "nope", "run_b": "nope2"}),
        404,
    ),
    Case(
        "compare-tehsil-level",
        G,
        req(
            "POST",
            "/runs/compare",
            json={"run_a": "{run_id}", "run_b": "{run_id}", "level": "tehsil"},
        ),
        422,
    ),
    Case(
        "diff-unknown-hazards",
        G,
        req("POST", "/hazards/diff", json={"old": "nope", "new": "nope"}),
        404,
    ),
    # parameters
    Case("limit-negative", G, req("GET", "/runs", params={"limit": -1}), 422),
    Case("offset-1e30", G, req("GET", "/runs", params={"offset": str(10**30)}), 422),
    Case("limit-text", G, req("GET", "/hazards", params={"limit": "all"}), 422),
    Case("status-unicode", G, req("GET", "/runs", params={"status": "ﷺ\u0000"}), 422),
    Case(
        "summary-level-galaxy",
        G,
        req("GET", "/runs/{run_id}/summary", params={"level": "galaxy"}),
        422,
    ),
    Case(
        "households-format-xml",
        G,
        req("GET", "/runs/{run_id}/households", "admin", params={"format": "xml"}),
        422,
    ),
    Case(
        "households-limit-1e12",
        G,
        req("GET", "/runs/{run_id}/households", "admin", params={"limit": str(10**12)}),
        422,
    ),
    Case(
        "households-unit-unknown",
        G,
        req("GET", "/runs/{run_id}/households", "admin", params={"unit": "district:Atlantis"}),
        422,
    ),
    Case(
        "audit-since-not-a-date",
        G,
        req("GET", "/audit", "admin", params={"since": "yesterday"}),
        422,
    ),
    Case(
        "audit-export-format-xml",
        G,
        req("GET", "/audit/export", "admin", params={"format": "xml"}),
        422,
    ),
    # methods
    Case("put-runs-405", G, req("PUT", "/runs"), 405, "Allow: GET, POST"),
    Case("delete-hazard-405", G, req("DELETE", "/hazards/{hazard_id}"), 405, "Allow: GET"),
    Case("unknown-path", G, req("GET", "/etc/passwd"), 404),
    # uploads
    Case(
        "multipart-without-file",
        G,
        req("POST", "/hazards", data={"kind": "flood_depth"}, files={"other": ("a.txt", b"x")}),
        422,
    ),
    Case(
        "upload-not-multipart",
        G,
        req(
            "POST",
            "/hazards",
            content=b"raw bytes",
            headers={"content-type": "application/octet-stream"},
        ),
        415,
    ),
    Case("upload-oversized", G, upload(b"\0" * 100_001), 413),
    Case("upload-empty-file", G, upload(b""), 400),
    Case("upload-truncated-tiff", G, upload(b"II*\x00" + b"\0" * 100), 400),
    Case("upload-zip-slip", G, upload(zip_bytes({"../../evil.geojson": _geojson()}), "h.zip"), 422),
    Case(
        "upload-nested-zip",
        G,
        upload(zip_bytes({"inner.zip": zip_bytes({"a.geojson": _geojson()})}), "h.zip"),
        422,
    ),
    Case(
        "upload-traversal-filename", G, upload(b"not a raster", "../../../etc/cron.d/evil.tif"), 400
    ),
    Case("upload-kind-51-chars", G, _real_file_upload, 422, "kind"),
    Case("upload-bad-crs", G, upload(_geojson(), "f.geojson", crs="EPSG:999999"), 422),
    Case("upload-missing-field", G, upload(_geojson(), "f.geojson", intensity_field="nope"), 422),
]
