"""Hostile ``rahat`` command lines: bad options, bad ranges, outputs that cannot be written.

Every case runs the CLI in-process; an input error must exit with code 2 and a one-line
message (never a traceback), a usage error too (click's own code 2).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cases import Case, registry_csv, write

G = "cli"


#: ``rahat run`` of :func:`scenario` on the registry, into the out folder.
RUN = ("run", "{scenario}", "--registry", "{registry}", "--out", "{out}")


def scenario(tmp: Path) -> Path:
    """A valid scenario whose hazard file does not exist (so nothing heavy ever runs)."""
    return write(
        tmp,
        "s.yaml",
        "name: s\nhazards: [{name: w, path: w.geojson, kind: flood_extent}]\n"
        "eligibility: {pmt_cutoff: 40, hazard: [{layer: w, min_intensity: 0.5}]}\n"
        "benefit: {kind: fixed, amount: 25000}\n",
    )


def args(*items: str) -> Any:
    """Arguments with ``{scenario}`` as the path of :func:`scenario`."""

    def build(tmp: Path) -> list[str]:
        path = str(scenario(tmp))
        return [a.replace("{scenario}", path) for a in items]

    return build


def sweep(*vary: str) -> Any:
    """``rahat sweep`` with ``--vary`` values."""
    extra = [x for v in vary for x in ("--vary", v)]
    return args("sweep", "{scenario}", "--registry", "{registry}", "--out", "{out}", *extra)


def run_out_at_file(tmp: Path) -> list[str]:
    target = write(tmp, "out.txt", "keep me")
    return ["run", str(scenario(tmp)), "--registry", "{registry}", "--out", str(target)]


def validate_out_at_file(tmp: Path) -> list[str]:
    target = write(tmp, "out.parquet", "keep me")
    reg = registry_csv(
        tmp, "1,67.77,26.73,Sindh,Dadu,Dadu,25.5,6,1,0,0,false,kacha,crop_farming,2022-01-15"
    )
    return ["registry", "validate", str(reg), "--out", str(target / "x.parquet")]


def zero_rows(command: str) -> Any:
    def build(tmp: Path) -> list[str]:
        reg = registry_csv(tmp)
        if command == "run":
            return ["run", str(scenario(tmp)), "--registry", str(reg), "--out", "{out}"]
        return ["registry", command, str(reg)]

    return build


def fifo_registry(tmp: Path) -> list[str]:
    path = tmp / "reg.csv"
    os.mkfifo(path)
    return ["registry", "validate", str(path)]


def zip_slip(tmp: Path) -> list[str]:
    import zipfile

    path = tmp / "h.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("../../evil.geojson", "{}")
    return ["hazard", "validate", str(path)]


def tiff(tmp: Path) -> Path:
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    path = tmp / "d.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=16,
        height=16,
        count=1,
        dtype="float32",
        crs=None,
        transform=from_origin(67.0, 27.0, 0.01, 0.01),
    ) as dst:
        dst.write(np.ones((16, 16), "float32"), 1)
    return path


def hazard(*options: str) -> Any:
    return lambda t: ["hazard", "validate", str(tiff(t)), *options]


def markup_path(name: str) -> Any:
    return lambda t: ["hazard", "validate", str(t / name)]


CASES = [
    Case("unknown-command", G, lambda t: ["explode"], 2),
    Case(
        "run-missing-scenario",
        G,
        lambda t: ["run", str(t / "nope.yaml"), "--registry", "{registry}", "--out", "{out}"],
        2,
        "nope.yaml",
    ),
    Case(
        "run-scenario-is-folder",
        G,
        lambda t: ["run", str(t), "--registry", "{registry}", "--out", "{out}"],
        2,
    ),
    Case("run-no-registry-option", G, args("run", "{scenario}", "--out", "{out}"), 2, "--registry"),
    Case(
        "run-missing-registry",
        G,
        args("run", "{scenario}", "--registry", "/nonexistent/reg.parquet", "--out", "{out}"),
        2,
    ),
    Case(
        "run-json-true",
        G,
        args("run", "{scenario}", "--registry", "{registry}", "--out", "{out}", "--json", "true"),
        2,
    ),
    Case("run-out-at-file", G, run_out_at_file, 2, "out.txt"),
    Case(
        "run-out-unwritable",
        G,
        args("run", "{scenario}", "--registry", "{registry}", "--out", "/proc/rahat/out"),
        2,
    ),
    Case(
        "run-out-dev-null",
        G,
        args("run", "{scenario}", "--registry", "{registry}", "--out", "/dev/null"),
        2,
    ),
    Case("run-zero-row-registry", G, zero_rows("run"), 2),
    Case(
        "run-missing-hazard",
        G,
        args("run", "{scenario}", "--registry", "{registry}", "--out", "{out}"),
        2,
        "w.geojson",
    ),
    Case(
        "sweep-no-vary",
        G,
        args("sweep", "{scenario}", "--registry", "{registry}", "--out", "{out}"),
        2,
    ),
    Case("sweep-three-vary", G, sweep("a=1,2", "b=1,2", "c=1,2"), 2, "one or two"),
    Case("sweep-vary-no-equals", G, sweep("eligibility.pmt_cutoff"), 2),
    Case("sweep-vary-reversed", G, sweep("eligibility.pmt_cutoff=40:10:5"), 2),
    Case("sweep-vary-zero-step", G, sweep("eligibility.pmt_cutoff=10:40:0"), 2),
    Case("sweep-vary-negative-step", G, sweep("eligibility.pmt_cutoff=10:40:-5"), 2),
    Case("sweep-vary-huge-grid", G, sweep("eligibility.pmt_cutoff=0:1e9:1e-9"), 2),
    Case("sweep-vary-text", G, sweep("eligibility.pmt_cutoff=a:b:c"), 2),
    Case("sweep-vary-nan", G, sweep("eligibility.pmt_cutoff=nan,inf"), 2),
    Case("sweep-vary-empty", G, sweep("eligibility.pmt_cutoff="), 2),
    Case("sweep-vary-1e400", G, sweep("eligibility.pmt_cutoff=1e400,1"), 2),
    Case(
        "sweep-unknown-metric",
        G,
        lambda t: [*sweep("eligibility.pmt_cutoff=1,2")(t), "--metric", "bogus"],
        2,
        "metric",
    ),
    Case("registry-validate-zero-rows", G, zero_rows("validate"), 2, "no rows"),
    Case("registry-info-zero-rows", G, zero_rows("info"), 2, "no rows"),
    Case("registry-validate-fifo", G, fifo_registry, 2, "regular file"),
    Case("registry-validate-out-in-a-file", G, validate_out_at_file, 2),
    Case("registry-info-missing", G, lambda t: ["registry", "info", str(t / "nope.csv")], 2),
    Case(
        "synth-zero-households",
        G,
        lambda t: ["registry", "synth", "--out", "{out}", "--households", "0"],
        2,
    ),
    Case(
        "synth-1e30-households",
        G,
        lambda t: ["registry", "synth", "--out", "{out}", "--households", str(10**30)],
        2,
    ),
    Case(
        "synth-households-text",
        G,
        lambda t: ["registry", "synth", "--out", "{out}", "--households", "many"],
        2,
    ),
    Case("hazard-validate-zip-slip", G, zip_slip, 2, "leaves the archive"),
    Case("hazard-validate-no-crs", G, hazard(), 2, "CRS"),
    Case("hazard-validate-bogus-crs", G, hazard("--crs", "EPSG:999999"), 2),
    Case("hazard-validate-unknown-kind", G, hazard("--crs", "EPSG:4326", "--kind", "lava"), 2),
    Case(
        "hazard-validate-bad-window",
        G,
        hazard("--crs", "EPSG:4326", "--window", "yesterday/today"),
        2,
    ),
    Case("hazard-validate-bad-at", G, hazard("--crs", "EPSG:4326", "--at", "not-a-time"), 2),
    Case(
        "hazard-validate-duration-text",
        G,
        hazard("--crs", "EPSG:4326", "--duration-above", "deep"),
        2,
    ),
    Case(
        "hazard-inspect-missing",
        G,
        lambda t: ["hazard", "inspect", str(t / "nope.tif")],
        2,
        "not found",
    ),
    Case(
        "hazard-markup-in-name", G, markup_path("[bold red]:100:[/].tif"), 2, "[bold red]:100:[/]"
    ),
    Case(
        "hazard-markup-link",
        G,
        markup_path("[link=file:x]y[/link].tif"),
        2,
        "[link=file:x]y[/link]",
    ),
    Case(
        "run-markup-scenario-name",
        G,
        lambda t: [
            "run",
            str(t / "[red]:100:[/red].yaml"),
            "--registry",
            "{registry}",
            "--out",
            "{out}",
        ],
        2,
        "[red]:100:[/red]",
    ),
    Case("compare-missing-runs", G, lambda t: ["compare", str(t / "a"), str(t / "b")], 2),
    Case("org-add-bad-role", G, lambda t: ["org", "add", "X", "--role", "emperor"], 2),
    Case(
        "org-add-huge-name",
        G,
        lambda t: ["org", "add", "x" * 100_000],
        2,
        "at most 200",
    ),
    Case("key-create-unknown-org", G, lambda t: ["key", "create", "nobody"], 2),
    Case(
        "agreement-unknown-org",
        G,
        lambda t: [
            "agreement",
            "add",
            "nobody",
            "--units",
            "district:PK703",
            "--fields",
            "district",
            "--valid-to",
            "2030-01-01",
            "--purpose",
            "x",
        ],
        2,
    ),
    Case(
        "audit-export-bad-format",
        G,
        lambda t: ["audit", "export", "--out", "{out}/a.csv", "--format", "xml"],
        2,
    ),
    Case(
        "audit-export-bad-since",
        G,
        lambda t: ["audit", "export", "--out", "{out}/a.csv", "--since", "notadate"],
        2,
    ),
]
