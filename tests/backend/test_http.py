"""Plain HTTP on the WebSocket port: /healthz and the /admin/faults API."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from backend.config import BackendConfig
from backend.httpapi import HttpParseError, parse_head_and_body

ADMIN = {"Authorization": "Bearer admin-token-for-tests"}


@pytest.mark.asyncio
async def test_healthz_reports_process_and_connections(http: Any, users: Any) -> None:
    await users.connect("alice")
    status, body = await http("GET", "/healthz")
    assert status == 200
    keys = {"status", "pid", "rss_bytes", "uptime_s", "connections", "tasks", "version"}
    assert set(body) == keys
    assert body["tasks"] >= 2  # at least the session's handler and this request's
    assert body["status"] == "ok" and body["pid"] == os.getpid()
    assert body["rss_bytes"] > 10_000_000 and body["uptime_s"] >= 0
    assert body["connections"] == 1
    assert isinstance(body["version"], str) and body["version"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("GET", "/nowhere", 404, "not_found"),
        ("POST", "/healthz", 405, "method_not_allowed"),
        ("POST", "/ws", 405, "method_not_allowed"),
        ("PATCH", "/admin/faults", 405, "method_not_allowed"),
    ],
)
async def test_other_routes_and_methods_are_refused(
    http: Any, method: str, path: str, status: int, error: str
) -> None:
    got_status, body = await http(method, path, headers=ADMIN, body=b"")
    assert (got_status, body["error"]) == (status, error)


@pytest.mark.asyncio
async def test_admin_is_404_when_no_admin_token_is_configured(
    config: BackendConfig, start: Any, http_to: Any
) -> None:
    async with start(config, admin_token=None) as srv:
        off = (404, {"error": "not_found", "message": "admin endpoints are off"})
        assert await http_to(srv, "GET", "/admin/faults", headers=ADMIN) == off
        assert await http_to(srv, "PUT", "/admin/faults", headers=ADMIN, body=b"{}") == off


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing token"),
        ({"Authorization": "Bearer wrong"}, "wrong admin token"),
        ({"Authorization": "Basic YWRtaW4="}, "missing token"),
    ],
)
async def test_admin_needs_the_admin_token(
    http: Any, method: str, headers: dict[str, str], reason: str
) -> None:
    body = b"{}" if method == "PUT" else None
    assert await http(method, "/admin/faults", headers=headers, body=body) == (
        401,
        {"error": "unauthorized", "reason": reason},
    )


@pytest.mark.asyncio
async def test_admin_shows_replaces_and_clears_faults(http: Any) -> None:
    assert await http("GET", "/admin/faults", headers=ADMIN) == (200, {"faults": {}})
    body = b'{"drop_event": "agent_completed:1.0,tool_completed:0.5", "db_delay_ms": 20}'
    expected = {"drop_event": "agent_completed:1,tool_completed:0.5", "db_delay_ms": 20.0}
    assert await http("PUT", "/admin/faults", headers=ADMIN, body=body) == (
        200,
        {"faults": expected},
    )
    assert await http("GET", "/admin/faults", headers=ADMIN) == (200, {"faults": expected})
    # PUT replaces the whole set.
    replaced = await http("PUT", "/admin/faults", headers=ADMIN, body=b'{"cross_talk": "0.5"}')
    assert replaced == (200, {"faults": {"cross_talk": 0.5}})
    assert await http("DELETE", "/admin/faults", headers=ADMIN) == (200, {"faults": {}})


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "fault", "message"),
    [
        (
            b'{"close_1011": 2}',
            "close_1011",
            "close_1011: probability must be between 0 and 1, got 2",
        ),
        (
            b'{"drop_event": "agent_done:1"}',
            "drop_event",
            "drop_event: unknown type 'agent_done' (known: agent_started, agent_thinking, "
            "tool_executing, tool_completed, agent_completed, thread_created, messages_stored, "
            "thread, error)",
        ),
        (
            b'{"delay_ms": "agent_started"}',
            "delay_ms",
            "delay_ms: expected 'TYPE:VALUE', got 'agent_started'",
        ),
        (b'{"db_delay_ms": "soon"}', "db_delay_ms", "db_delay_ms: expected a number, got 'soon'"),
        (
            b'{"leak_kb": -1}',
            "leak_kb",
            "leak_kb: kilobytes must be a whole number 0..1048576, got -1",
        ),
        (
            b'{"strip_auth_header": "maybe"}',
            "strip_auth_header",
            "strip_auth_header: expected true or false, got 'maybe'",
        ),
        (b'{"reject_rate": [1]}', "reject_rate", "reject_rate: expected a number, got [1]"),
        (
            b'{"teleport": 1}',
            "teleport",
            "teleport: unknown fault (known: close_1011, drop_event, delay_ms, db_delay_ms, "
            "leak_kb, cross_talk, strip_auth_header, reject_rate)",
        ),
    ],
)
async def test_bad_put_body_is_400_naming_the_fault(
    http: Any, body: bytes, fault: str, message: str
) -> None:
    assert await http("PUT", "/admin/faults", headers=ADMIN, body=body) == (
        400,
        {"error": "bad_request", "fault": fault, "message": message},
    )
    assert await http("GET", "/admin/faults", headers=ADMIN) == (200, {"faults": {}})


@pytest.mark.asyncio
@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b""])
async def test_put_body_must_be_a_json_object(http: Any, body: bytes) -> None:
    assert await http("PUT", "/admin/faults", headers=ADMIN, body=body) == (
        400,
        {"error": "bad_request", "message": "body must be a JSON object of faults"},
    )


@pytest.mark.parametrize(
    ("raw", "status", "message"),
    [
        (b"PUT /x\r\n\r\n", 400, "malformed request line"),
        (b"PUT /x HTTP/1.1\r\nbad header\r\n\r\n", 400, "malformed header line"),
        (b"PUT /x HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400, "malformed Content-Length"),
        (
            b"PUT /x HTTP/1.1\r\nContent-Length: 999999\r\n\r\n",
            413,
            "request body larger than 65536 bytes",
        ),
        (
            b"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
            "Transfer-Encoding is not supported; send Content-Length",
        ),
        (b"PUT /x HTTP/1.1\r\n" + b"X: y\r\n" * 4000, 431, "request head too large"),
    ],
)
def test_plain_request_parser_refuses_what_it_cannot_read(
    raw: bytes, status: int, message: str
) -> None:
    with pytest.raises(HttpParseError) as caught:
        parse_head_and_body(raw)
    assert (caught.value.status, str(caught.value)) == (status, message)


def test_plain_request_parser_waits_for_the_whole_body() -> None:
    head = b"PUT /admin/faults HTTP/1.1\r\nContent-Length: 4\r\nX-A: b\r\n\r\n"
    assert parse_head_and_body(head + b"{}") is None
    request = parse_head_and_body(head + b"{}  ")
    assert request is not None
    assert (request.method, request.path, request.body) == ("PUT", "/admin/faults", b"{}  ")
    assert request.headers["x-a"] == "b"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("pieces", "status"),
    [
        ([b"PU", b"T /admin/faults HTTP/1.1\r\nContent-Length: 20\r\n", b"Authorization: Bearer "
          b"admin-token-for-tests\r\n\r\n{\"cross_", b"talk\": 0.25}"], 200),
        ([b"G", b"ET /healthz HTTP/1.1\r\n", b"Host: x\r\n\r\n"], 200),
    ],
)  # fmt: skip
async def test_requests_arriving_in_pieces_are_reassembled(
    backend: Any, pieces: list[bytes], status: int
) -> None:
    reader, writer = await asyncio.open_connection(backend.host, backend.port)
    for piece in pieces:
        writer.write(piece)
        await writer.drain()
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    assert raw.startswith(f"HTTP/1.1 {status} ".encode())
