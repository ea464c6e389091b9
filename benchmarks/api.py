"""``rahat bench api``: summary latency under concurrent clients, and CSV export throughput.

The benchmark starts ``rahat serve`` as a separate process on 127.0.0.1 (a free port), records
a finished run whose caseload is a synthetic table of ``rows`` households, then

* sends ``requests`` ``GET /runs/{id}/summary`` calls from ``clients`` concurrent keep-alive
  connections (a light HTTP/1.1 client, :class:`_Connection`) and reports the p50/p99
  latency and the requests served per second (each client sends its next request when the
  last is answered, so latency is about ``clients`` divided by that rate once the server is
  saturated), and
* downloads every household as CSV (admin, so nothing is cut) and reports rows per second.

Next to the figures it reports the CPU time the server process and this (client) process
spent per summary request and on the export, since on a small machine the client's share can
be larger than the server's and so bound the figures.

All traffic stays on the loopback interface, every loop is bounded in count and time, and the
server is stopped at the end.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def synthetic_caseload(rows: int, path: Path, seed: int = 0) -> Path:
    """Write a caseload Parquet with the documented columns and ``rows`` households."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    n_districts, n_tehsils = 30, 4
    districts = [f"District {d:02d}" for d in range(n_districts)]
    tehsils = [f"Tehsil {d:02d}-{t}" for d in range(n_districts) for t in range(n_tehsils)]
    tehsil_idx = rng.integers(0, n_districts * n_tehsils, rows).astype(np.int32)
    district_idx = (tehsil_idx // n_tehsils).astype(np.int32)
    selected = rng.random(rows) < 0.6

    def dictionary(indices: Any, values: list[str]) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(pa.array(indices), pa.array(values))

    table = pa.table(
        {
            "household_id": pa.array(rng.permutation(rows).astype(np.int64) * 7919 + 10**12),
            "rank": pa.array(np.arange(1, rows + 1, dtype=np.int64)),
            "selected": pa.array(selected),
            "eligible": pa.array(selected | (rng.random(rows) < 0.2)),
            "score": pa.array(rng.random(rows)),
            "benefit": pa.array(np.where(selected, 25_000, 0).astype(np.int64)),
            "reasons": dictionary(np.zeros(rows, np.int8), ["depth>=0.3:pass;pmt<=32:pass"]),
            "province": dictionary(np.zeros(rows, np.int8), ["Sindh"]),
            "district": dictionary(district_idx, districts),
            "tehsil": dictionary(tehsil_idx, tehsils),
            "district_pcode": dictionary(district_idx, [f"PK7{d:02d}" for d in range(30)]),
            "tehsil_pcode": dictionary(
                tehsil_idx, [f"PK7{d:02d}{t + 1:02d}" for d in range(30) for t in range(4)]
            ),
            "lon": pa.array(66.5 + rng.random(rows) * 4.5),
            "lat": pa.array(23.7 + rng.random(rows) * 4.7),
            "household_size": pa.array(rng.integers(1, 13, rows).astype(np.int16)),
            "pmt_score": pa.array((rng.random(rows) * 60).astype(np.float32)),
            "depth": pa.array(rng.random(rows) * 3),
            "score_severity": pa.array(rng.random(rows)),
            "score_poverty": pa.array(rng.random(rows)),
        }
    )
    pq.write_table(table, path)
    return path


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (``None`` where /proc is missing)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _per(spent: tuple[float | None, float | None], count: int, scale: float) -> float | None:
    """CPU spent between two readings, per item and scaled (``None`` if unreadable)."""
    start, end = spent
    if start is None or end is None or count <= 0:
        return None
    return round((end - start) / count * scale, 3)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _prepare(state: Path, rows: int) -> tuple[dict[str, str], str, str]:
    """Create the database, an admin key and a finished run; return env, token and run id."""
    from rahat.api.service.admin import add_organisation, create_key
    from rahat.api.service.db import create_schema, make_engine, make_sessionmaker
    from rahat.api.service.models import Run
    from rahat.api.service.settings import Settings

    env = {"RAHAT_STATE_DIR": str(state), "RAHAT_DATABASE_URL": f"sqlite:///{state / 'rahat.db'}"}
    settings = Settings(state_dir=state, database_url=env["RAHAT_DATABASE_URL"])
    settings.ensure_dirs()
    engine = make_engine(settings.database_url)
    create_schema(engine)
    with make_sessionmaker(engine)() as session, session.begin():
        org = add_organisation(session, "bench", "admin")
        token, _ = create_key(session, "bench")
        run = Run(
            scenario={"name": "bench"},
            hazards={},
            status="succeeded",
            progress=1.0,
            attempts=1,
            created_by=org.id,
        )
        session.add(run)
        session.flush()
        run_dir = settings.runs_dir / run.id
        run_dir.mkdir(parents=True)
        synthetic_caseload(rows, run_dir / "caseload.parquet")
        run.artifact_dir = str(run_dir)
        run_id = run.id
    engine.dispose()
    return env, token, run_id


class _Connection:
    """One keep-alive HTTP/1.1 connection sending ``GET`` requests (a light client).

    The summary phase measures the server, so its clients must cost little: a pure-Python
    HTTP client can spend more CPU per request than the server, and on a small machine the
    two share the cores. Only what the summary needs is understood: ``Content-Length`` bodies.
    """

    def __init__(self, host: str, port: int, request: bytes) -> None:
        self.host, self.port, self.request = host, port, request
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, timeout: float) -> int:
        """Send the request, read the whole response and return its status."""
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(self.request)
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        await asyncio.wait_for(self.reader.readexactly(length), timeout)
        return status

    async def close(self) -> None:
        """Close the connection."""
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def _latencies(
    url: str, headers: dict[str, str], clients: int, requests: int, time_limit: float
) -> list[float]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    results: list[float] = []
    deadline = time.monotonic() + time_limit

    async def worker() -> None:
        connection = _Connection(host, port, request)
        try:
            while time.monotonic() < deadline:
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                start = time.perf_counter()
                status = await connection.get(timeout=60)
                results.append(time.perf_counter() - start)
                if status != 200:
                    raise RuntimeError(f"GET {target} answered {status}")
        finally:
            await connection.close()

    await asyncio.gather(*(worker() for _ in range(clients)))
    return results


def bench_api(
    rows: int = 1_000_000,
    clients: int = 50,
    requests: int = 2_000,
    time_limit: float = 120.0,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Measure the API: summary latency under concurrency and CSV export throughput.

    Parameters
    ----------
    rows
        Households in the synthetic caseload.
    clients
        Concurrent clients requesting the summary.
    requests
        Summary requests in all.
    time_limit
        Seconds after which each phase stops sending requests.
    workdir
        Folder for the server's state; a temporary one (removed afterwards) by default.

    Returns
    -------
    dict
        ``summary_p50_ms``, ``summary_p99_ms``, ``summary_requests_per_s``,
        ``summary_requests``, ``clients``,
        ``csv_rows``, ``csv_bytes``, ``csv_seconds``, ``csv_rows_per_s``, and the CPU spent
        by the server and the client: ``summary_server_cpu_ms_per_request``,
        ``summary_client_cpu_ms_per_request``, ``csv_server_cpu_s``, ``csv_client_cpu_s``
        (``None`` where ``/proc`` cannot be read).
    """
    import httpx
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="rahat-bench-api-") as tmp:
        state = Path(workdir or tmp) / "state"
        env, token, run_id = _prepare(state, rows)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        code = "from rahat.api.cli import main; main()"
        log_path = state / "server.log"
        log = open(log_path, "wb")  # noqa: SIM115 - closed in the finally below
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "serve", "--port", str(port), "--log-level", "warning"],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the API server did not start")
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            headers = {"Authorization": f"Bearer {token}"}
            summary_url = f"{base}/runs/{run_id}/summary"
            httpx.get(summary_url, headers=headers, timeout=120).raise_for_status()  # warm-up
            server_cpu = [_cpu_seconds(proc.pid)]
            client_cpu = [time.process_time()]
            started = time.perf_counter()
            latencies = asyncio.run(_latencies(summary_url, headers, clients, requests, time_limit))
            summary_seconds = time.perf_counter() - started
            server_cpu.append(_cpu_seconds(proc.pid))
            client_cpu.append(time.process_time())
            start = time.perf_counter()
            size = 0
            lines = 0
            with httpx.stream(
                "GET",
                f"{base}/runs/{run_id}/households",
                params={"format": "csv", "selected_only": "false"},
                headers=headers,
                timeout=time_limit,
            ) as response:
                response.raise_for_status()
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    lines += chunk.count(b"\n")
            seconds = time.perf_counter() - start
            server_cpu.append(_cpu_seconds(proc.pid))
            client_cpu.append(time.process_time())
        except (httpx.HTTPError, OSError, RuntimeError, asyncio.IncompleteReadError) as exc:
            raise RuntimeError(
                f"API benchmark failed ({exc!r}); server log:\n"
                + log_path.read_text(errors="replace")[-3000:]
            ) from exc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
    ms = np.asarray(latencies) * 1000
    n = len(latencies)
    csv_rows = lines - 1
    return {
        "clients": clients,
        "summary_requests": len(latencies),
        "summary_p50_ms": round(float(np.percentile(ms, 50)), 2),
        "summary_p99_ms": round(float(np.percentile(ms, 99)), 2),
        "summary_requests_per_s": round(len(latencies) / summary_seconds, 1),
        "csv_rows": csv_rows,
        "csv_bytes": size,
        "csv_seconds": round(seconds, 3),
        "csv_rows_per_s": round(csv_rows / seconds),
        "summary_server_cpu_ms_per_request": _per((server_cpu[0], server_cpu[1]), n, 1000),
        "summary_client_cpu_ms_per_request": _per((client_cpu[0], client_cpu[1]), n, 1000),
        "csv_server_cpu_s": _per((server_cpu[1], server_cpu[2]), 1, 1),
        "csv_client_cpu_s": _per((client_cpu[1], client_cpu[2]), 1, 1),
    }
