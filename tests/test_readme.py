"""The README's commands run as written (the set-up commands are what ``.ci/run`` runs).

The tour is extracted from the README and run, command by command, in a scratch folder that
holds the repository's ``data/`` and ``scenarios/`` (linked, read only), with its own
``RAHAT_CACHE_DIR`` and ``RAHAT_STATE_DIR``. A command may exit non-zero only where the README
says so (``# exit code N``). ``rahat serve`` is started on a free port until ``/healthz``
answers, then stopped.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(title)
    following = re.search(r"^##+ ", README[start + len(title) :], re.MULTILINE)
    return README[start : start + len(title) + following.start()] if following else README[start:]


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def tour_commands() -> list[tuple[str, int]]:
    """The tour's commands as ``(command, expected exit code)``, continuation lines joined."""
    (block,) = _bash_blocks(_section("## A short tour"))
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        expected = re.search(r"#\s*exit code (\d+)", line)
        command = line.split(" #", 1)[0].strip() if not line.startswith("#") else ""
        if command:
            commands.append((re.sub(r"\s+", " ", command), int(expected[1]) if expected else 0))
    return commands


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _check_serve(command: str, cwd: Path, env: dict[str, str]) -> None:
    """Start the tour's ``rahat serve`` on a free port and read ``/healthz``."""
    import httpx

    port = _free_port()
    command = command.replace("--port 8000", f"--port {port}")
    log = cwd / "out" / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["bash", "-c", command],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline and health is None:
            assert proc.poll() is None, log.read_text()
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()
            except httpx.TransportError:
                time.sleep(0.2)
        assert health is not None, f"rahat serve did not start: {log.read_text()}"
        assert health["registry"]["name"] == "registry.parquet"
        assert health["registry"]["exists"] is True and health["registry"]["households"] > 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    assert "registry registry.parquet:" in log.read_text()


def test_quick_start_has_exactly_the_two_set_up_commands() -> None:
    blocks = _bash_blocks(_section("## Quick start"))
    assert len(blocks) == 2
    assert blocks[0].strip().endswith("rahat demo")
    assert blocks[1].strip().endswith("python -m pytest -n auto")


@pytest.mark.slow
def test_tour_runs_as_written(tmp_path: Path) -> None:
    cwd = tmp_path / "clone"
    cwd.mkdir()
    for name in ("data", "scenarios"):
        (cwd / name).symlink_to(ROOT / name, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAHAT_") and k != "COLUMNS"} | {
        "RAHAT_CACHE_DIR": str(tmp_path / "cache"),
        "RAHAT_STATE_DIR": str(tmp_path / "state"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    commands = tour_commands()
    assert any("rahat serve" in c for c, _ in commands)
    for command, expected in commands:
        if "rahat serve" in command:
            _check_serve(command, cwd, env)
            continue
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == expected, f"{command}\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr, command
    # Everything the tour wrote is in folders that git ignores.
    ignored = {line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()}
    written = {p.name for p in cwd.iterdir() if not p.is_symlink()}
    assert written == {"demo", "out"}
    assert all(f"/{name}/" in ignored for name in written)
    assert (cwd / "out/b/caseload.parquet").is_file() and (cwd / "out/sweep/sweep.csv").is_file()


def test_registry_schema_table_matches_the_code() -> None:
    from rahat.geo.registry.schema import COLUMNS, PROGRAMMES

    section = _section("### The registry's input schema")
    rows = {
        m[1]: m[2]
        for m in re.finditer(r"^\| `(\w+)` \| [^|]+ \| ([^|]+) \|", section, re.MULTILINE)
    }
    assert list(rows) == [c.name for c in COLUMNS]
    for column in COLUMNS:
        assert rows[column.name].strip().startswith("yes" if column.required else "no"), column
        for value in column.categories or ():
            assert f"`{value}`" in section, value
    for programme in PROGRAMMES:
        assert f"`{programme}`" in section


def test_readme_documents_postgres_tests_and_the_registry_setting() -> None:
    assert "RAHAT_TEST_DATABASE_URL=" in README
    assert "RAHAT_REGISTRY_PATH" in _section("## A short tour")
    assert "closing notes" not in README
    assert "252,074" in README and "300,000" in README
    # The NGO flow, end to end.
    flow = _section("### The NGO flow, end to end")
    for step in ("rahat org add", "rahat key create", "rahat agreement add", "/publish"):
        assert step in flow
    assert "/households?format=csv" in flow


@pytest.mark.parametrize("name", ["registry_sample.csv", "flood_depth_sample.tif"])
def test_samples_are_small_and_listed_in_sources(name: str) -> None:
    path = ROOT / "data" / "samples" / name
    assert path.stat().st_size < 32_000
    assert f"samples/{name}" in (ROOT / "data" / "SOURCES.md").read_text()


def test_tour_paths_exist() -> None:
    for command, _ in tour_commands():
        for word in shlex.split(command):
            if word.startswith(("data/", "scenarios/")):
                assert (ROOT / word).exists(), word
