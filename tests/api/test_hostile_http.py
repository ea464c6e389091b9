"""Hostile HTTP clients: huge or endless bodies, anonymous bodies, slow headers, and the
OpenAPI schema agreeing with what the server answers (405 ``Allow``, 400/413, compare levels).

In-process tests drive the ASGI application directly with a ``receive`` channel that counts
what the application pulled, so "refused before the body is read" is measured, not assumed.
Real-server tests use raw sockets on 127.0.0.1 only, with bounded loops and timeouts.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
import sqlalchemy as sa
from conftest import ServerProcess, Service, cli_ok, make_settings, server_env

from rahat.api.service import uploads
from rahat.api.service.models import AuditEvent

MIB = 1024 * 1024

# -- an ASGI driver that counts the body the application pulls ------------------------------


class Pulled:
    """What one request sent and the application answered."""

    def __init__(self) -> None:
        self.bytes = 0
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""

    def json(self) -> Any:
        return json.loads(self.body)


def drive(
    service: Service,
    method: str,
    path: str,
    headers: dict[str, str],
    chunks: Iterator[bytes],
) -> Pulled:
    """Send one request (body from ``chunks``, pulled lazily) to the app; count what it read."""
    out = Pulled()
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": raw_headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
    }
    pending = iter(chunks)
    done = False

    async def receive() -> dict[str, Any]:
        nonlocal done
        if done:
            return {"type": "http.disconnect"}
        chunk = next(pending, None)
        if chunk is None:
            done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        out.bytes += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out.status = message["status"]
            out.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            out.body += message.get("body", b"")

    async def call() -> None:
        await service.app(scope, receive, send)

    anyio.run(call)
    return out


def repeat(chunk: bytes, total: int) -> Iterator[bytes]:
    """``total`` bytes as copies of ``chunk`` (bounded, lazily)."""
    sent = 0
    while sent < total:
        piece = chunk[: total - sent]
        sent += len(piece)
        yield piece


def last_event(service: Service) -> AuditEvent:
    with service.app.state.sessionmaker() as session:
        newest = session.scalar(sa.select(sa.func.max(AuditEvent.id)))
        event = session.get(AuditEvent, newest)
        assert event is not None
        return event


def auth(service: Service, who: str) -> dict[str, str]:
    return {"authorization": f"Bearer {service.tokens[who]}"}


JSON = {"content-type": "application/json"}

# -- 1. anonymous bodies are refused unread; every body is capped ---------------------------


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_anonymous_body_is_refused_before_it_is_read(service: Service, declared: bool) -> None:
    size = 200 * MIB
    headers = {**JSON, **({"content-length": str(size)} if declared else {})}
    r = drive(service, "POST", "/runs", headers, repeat(b"x" * MIB, size))
    assert r.status == 401, r.body
    assert r.bytes == 0  # not one byte pulled
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["connection"] == "close"
    assert "Missing API key" in r.json()["detail"]
    event = last_event(service)
    assert (event.outcome, event.role, event.route, event.action) == (
        401,
        "anonymous",
        "/runs",
        "runs.create",
    )


def test_unknown_key_body_is_refused_before_it_is_read(service: Service) -> None:
    token = "rahat_" + "NotARealKeyButLongEnough0123456789abcdefghi"
    headers = {**JSON, "authorization": f"Bearer {token}", "content-length": str(50 * MIB)}
    r = drive(service, "POST", "/runs/compare", headers, repeat(b"x" * MIB, 50 * MIB))
    assert (r.status, r.bytes) == (401, 0)
    assert "Unknown or revoked" in r.json()["detail"]
    event = last_event(service)
    assert (event.outcome, event.route, event.key_prefix) == (401, "/runs/compare", token[:16])


def test_declared_oversized_body_gets_413_unread(service: Service) -> None:
    limit = service.app.state.settings.max_json_bytes
    headers = {**JSON, **auth(service, "agency"), "content-length": str(limit + 1)}
    r = drive(service, "POST", "/runs", headers, repeat(b"x" * 65536, limit + 1))
    assert (r.status, r.bytes) == (413, 0), r.body
    assert r.headers["connection"] == "close"
    event = last_event(service)
    assert (event.outcome, event.organisation, event.route) == (413, "agency", "/runs")
    # a body within the limit still passes
    body = json.dumps({"run_a": service.run_id, "run_b": service.other_run_id}).encode()
    headers = {**JSON, **auth(service, "agency"), "content-length": str(len(body))}
    r = drive(service, "POST", "/runs/compare", headers, iter([body]))
    assert r.status == 200, r.body


def test_streamed_oversized_body_is_cut_at_the_limit(service: Service) -> None:
    limit = service.app.state.settings.max_json_bytes
    chunk = 64 * 1024
    headers = {**JSON, **auth(service, "planner")}  # chunked: no content-length
    r = drive(service, "POST", "/runs/compare", headers, repeat(b" " * chunk, 100 * MIB))
    assert r.status == 413, r.body
    assert r.bytes <= limit + chunk  # never more than the limit (and the chunk passing it)
    assert last_event(service).outcome == 413


# -- 2. multipart: the form fields are capped together, not only one by one -----------------


def form_fields(boundary: str, count: int, size: int) -> Iterator[bytes]:
    for i in range(count):
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\n'.encode()
            + b"x" * size
            + b"\r\n"
        )
    yield f"--{boundary}--\r\n".encode()


def upload_headers(service: Service, boundary: str = "hostile") -> dict[str, str]:
    return {"content-type": f"multipart/form-data; boundary={boundary}", **auth(service, "agency")}


def test_many_form_fields_are_refused_early(service: Service) -> None:
    """300 MB sent as 16 KB form fields: refused after about MAX_FORM_BYTES, nothing stored."""
    hazards = service.app.state.settings.hazards_dir
    before = sorted(p.name for p in hazards.iterdir()) if hazards.exists() else []
    count = 300 * MIB // (16 * 1024)
    r = drive(
        service, "POST", "/hazards", upload_headers(service), form_fields("hostile", count, 16000)
    )
    assert r.status == 413, r.body
    assert r.bytes < uploads.MAX_FORM_BYTES + 64 * 1024
    assert "form fields" in r.json()["detail"]
    after = sorted(p.name for p in hazards.iterdir()) if hazards.exists() else []
    assert after == before
    assert last_event(service).outcome == 413


def test_too_many_form_parts_are_refused(service: Service) -> None:
    r = drive(
        service,
        "POST",
        "/hazards",
        upload_headers(service),
        form_fields("hostile", uploads.MAX_PARTS + 1, 1),
    )
    assert r.status == 413, r.body
    assert "parts" in r.json()["detail"]


def test_upload_body_is_capped_in_total(fresh_service: Service) -> None:
    """Bytes the parser skips (an epilogue after the last part) count too: 413."""
    service = fresh_service
    service.app.state.settings.max_upload_bytes = MIB
    form = (
        b'--hostile\r\nContent-Disposition: form-data; name="file"; filename="a.tif"\r\n\r\n'
        b"abc\r\n--hostile--\r\n"
    )

    def chunks() -> Iterator[bytes]:
        yield form
        yield from repeat(b"z" * 65536, 50 * MIB)

    r = drive(service, "POST", "/hazards", upload_headers(service), chunks())
    assert r.status == 413, r.body
    assert r.bytes < 2 * MIB


# -- 12. OpenAPI conformance -----------------------------------------------------------------


def test_anonymous_invalid_body_gets_401_not_validation_details(service: Service) -> None:
    for body in (b"{not json", b'{"hazards": 5}', b"\xff\xfe"):
        r = service.client.post("/runs", content=body, headers=JSON)
        assert r.status_code == 401, r.text
        assert "errors" not in r.json() and "JSON" not in r.text
    r = service.client.post("/runs/compare", content=b"[", headers=JSON)
    assert r.status_code == 401


def test_openapi_declares_400_and_413_and_compare_levels(service: Service) -> None:
    schema = service.client.get("/openapi.json").json()
    for path in ("/runs", "/runs/compare"):
        responses = schema["paths"][path]["post"]["responses"]
        assert {"400", "401", "413", "422"} <= set(responses), (path, sorted(responses))
    ref = schema["paths"]["/runs/compare"]["post"]["requestBody"]["content"]["application/json"]
    model = schema["components"]["schemas"][ref["schema"]["$ref"].rsplit("/", 1)[1]]
    assert model["properties"]["level"]["enum"] == ["province", "district"]
    # ... and the server agrees: tehsil is a validation error, like any value outside the enum
    r = service.post(
        "agency",
        "/runs/compare",
        json={"run_a": service.run_id, "run_b": service.other_run_id, "level": "tehsil"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == "body.level"


def test_405_names_every_allowed_method(service: Service) -> None:
    cases = [
        ("PUT", "/runs", {"GET", "POST"}),
        ("PATCH", "/hazards", {"GET", "POST"}),
        ("DELETE", "/runs/compare", {"POST"}),
        ("POST", "/healthz", {"GET"}),
        ("DELETE", "/runs/abc", {"GET"}),
    ]
    for method, path, allowed in cases:
        r = service.client.request(method, path, headers=service.headers("agency"))
        assert r.status_code == 405
        got = {m.strip() for m in r.headers.get("allow", "").split(",")}
        assert allowed <= got and method not in got, (method, path, r.headers.get("allow"))


# -- 1, 2, 5 against a real server (raw sockets on 127.0.0.1) ------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    """``rahat serve`` with 1-second header and body timeouts, and an agency key."""
    root: Path = tmp_path_factory.mktemp("hostile")
    env = server_env(make_settings(root))
    env.update({"RAHAT_HEADER_TIMEOUT": "1", "RAHAT_BODY_TIMEOUT": "1"})
    cli_ok(env, "org", "add", "Agency", "--role", "agency")
    token = cli_ok(env, "key", "create", "Agency").strip()
    server = ServerProcess(env, root / "server.log").start()
    try:
        yield server, token
    finally:
        server.stop()


def connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.settimeout(10)
    return sock


def read_until_closed(sock: socket.socket, deadline: float) -> bytes:
    """Everything the server sends until it closes the connection (or ``deadline``)."""
    data = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            piece = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionError:
            return data
        if not piece:
            return data
        data += piece
    raise AssertionError(f"the server kept the connection open; got {data[:200]!r}")


def test_slow_headers_are_timed_out(live: tuple[ServerProcess, str]) -> None:
    server, _ = live
    started = time.monotonic()
    socks = [connect(server) for _ in range(40)]
    try:
        for sock in socks:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # and stalls
        answers = [read_until_closed(sock, started + 8) for sock in socks]
    finally:
        for sock in socks:
            sock.close()
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[:3]
    assert time.monotonic() - started < 8
    # a client dripping a byte every 0.3 s does not reset the clock
    sock = connect(server)
    try:
        started = time.monotonic()
        closed = False
        for byte in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n":
            try:
                sock.sendall(bytes([byte]))
            except ConnectionError:
                closed = True
                break
            time.sleep(0.3)
            if time.monotonic() - started > 4:
                break
        if not closed:
            assert read_until_closed(sock, time.monotonic() + 3).startswith(b"HTTP/1.1 408")
        assert time.monotonic() - started < 6
    finally:
        sock.close()
    assert httpx_ok(server)  # the server still serves


def httpx_ok(server: ServerProcess) -> bool:
    import httpx

    return httpx.get(server.url + "/healthz", timeout=10).status_code == 200


def assert_closed_within(server: ServerProcess, sent: bytes, seconds: float) -> None:
    """Connect, send ``sent`` (maybe nothing) and stall: the server must hang up in time."""
    sock = connect(server)
    try:
        if sent:
            sock.sendall(sent)
        started = time.monotonic()
        read_until_closed(sock, started + seconds)
        assert time.monotonic() - started < seconds
    finally:
        sock.close()


def test_idle_connection_is_timed_out(live: tuple[ServerProcess, str]) -> None:
    assert_closed_within(live[0], b"", 5)  # connected, sent nothing


def test_stalled_body_is_timed_out(live: tuple[ServerProcess, str]) -> None:
    server, token = live
    head = (
        b"POST /runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {token}\r\nContent-Length: 1000\r\n\r\n".encode()
    )
    assert_closed_within(server, head + b'{"scenario": ', 6)


def test_oversized_headers_are_refused(live: tuple[ServerProcess, str]) -> None:
    server, _ = live
    sock = connect(server)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        answer = b""
        for _ in range(200):  # at most 200 x 4 KiB = 800 KiB of header
            try:
                sock.sendall(b"X-Junk: " + b"j" * 4096 + b"\r\n")
            except ConnectionError:
                break
        answer = read_until_closed(sock, time.monotonic() + 5)
        assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
    finally:
        sock.close()


def post_and_measure(
    server: ServerProcess, head: bytes, body: Iterator[bytes]
) -> tuple[bytes, int]:
    """Send ``head`` then ``body`` until the server answers or hangs up; the RSS increase."""
    assert server.proc is not None
    process = psutil.Process(server.proc.pid)
    before = peak = process.memory_info().rss
    answer = b""
    sock = connect(server)
    try:
        sock.sendall(head)
        for chunk in body:
            if select.select([sock], [], [], 0)[0]:
                break  # the server answered (or hung up)
            try:
                sock.sendall(chunk)
            except OSError:  # reset, broken pipe, or a server that stopped reading
                break
            peak = max(peak, process.memory_info().rss)
        with contextlib.suppress(OSError, AssertionError):
            answer = read_until_closed(sock, time.monotonic() + 10)
    finally:
        sock.close()
    peak = max(peak, process.memory_info().rss)
    return answer, peak - before


def test_memory_stays_flat_under_huge_bodies(
    live: tuple[ServerProcess, str], record_property: Any
) -> None:
    server, token = live
    size = 200 * MIB
    warm = (
        b"POST /runs HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\n\r\n{}"
    )
    post_and_measure(server, warm, iter(()))  # imports and first-request allocations
    head = (
        b"POST /runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {size}\r\n\r\n".encode()
    )
    answer, grown = post_and_measure(server, head, repeat(b"x" * MIB, size))
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    record_property("anonymous_200MB_rss_growth", grown)
    print(f"anonymous 200 MB POST /runs: server RSS +{grown / MIB:.1f} MiB")
    assert grown < 10 * MIB, grown
    # an agency's 300 MB of 16 KB form fields
    boundary = "hostile"
    head = (
        b"POST /hazards HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        + f"Content-Type: multipart/form-data; boundary={boundary}\r\n".encode()
        + f"Authorization: Bearer {token}\r\n\r\n".encode()
    )

    def chunked(parts: Iterator[bytes]) -> Iterator[bytes]:
        for part in parts:
            yield f"{len(part):x}\r\n".encode() + part + b"\r\n"

    fields = form_fields(boundary, 300 * MIB // 16000, 16000)
    answer, grown = post_and_measure(server, head, chunked(fields))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    record_property("agency_300MB_fields_rss_growth", grown)
    print(f"agency 300 MB of 16 KB form fields: server RSS +{grown / MIB:.1f} MiB")
    assert grown < 10 * MIB, grown


def test_only_the_bytes_up_to_the_blank_line_are_header_bytes() -> None:
    from rahat.api.service.server import header_bytes

    head = b"POST /hazards HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
    body = b"b" * 100_000  # arrived with the headers, before the request's cycle began
    assert header_bytes(b"", head + body) == (len(head), True, b"")
    # the blank line split between two pieces
    count, ended, tail = header_bytes(b"", head[:-3])
    assert (count, ended, tail) == (len(head) - 3, False, head[-6:-3])
    assert header_bytes(tail, head[-3:] + body) == (3, True, b"")
    # no blank line yet: every byte counts (the 431 limit still applies to endless headers)
    assert header_bytes(b"", b"X-Junk: " + b"j" * 4096 + b"\r\n")[:2] == (4106, False)
