"""Repeated and malformed handshake headers: a JSON 400, never a 500 or a traceback.

Requests are written byte for byte on raw loopback sockets, because a
client library will not send two `Authorization` headers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
from typing import Any

import pytest

from backend.server import RunningBackend


def _upgrade(host: str, port: int, extra: list[str], *, method: str = "GET") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"{method} /ws HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _exchange(srv: RunningBackend, raw: bytes) -> tuple[int, str, dict[str, Any]]:
    """Send `raw`, read the whole answer -> (status, content type, JSON body)."""
    reader, writer = await asyncio.open_connection(srv.host, srv.port)
    writer.write(raw)
    async with asyncio.timeout(10):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        body = await reader.readexactly(int(headers["content-length"]))
    writer.close()
    return int(lines[0].split(" ")[1]), headers["content-type"], json.loads(body)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["Authorization: Bearer a.b.c", "Authorization: Bearer d.e.f"], "Authorization"),
        (["Authorization: Bearer a.b.c", "authorization: Bearer a.b.c"], "Authorization"),
        (["Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA=="], "Sec-WebSocket-Key"),
        (["Sec-WebSocket-Version: 13"], "Sec-WebSocket-Version"),
        (["Host: elsewhere"], "Host"),
        (
            [
                "Sec-WebSocket-Protocol: agent-chat.v1, bearer.a.b.c",
                "Sec-WebSocket-Protocol: bearer.d.e.f",
            ],
            "bearer.<token> subprotocol",
        ),
    ],
    ids=["two-auth", "two-auth-same", "two-keys", "two-versions", "two-hosts", "two-bearers"],
)
async def test_a_repeated_single_header_is_a_json_400(
    backend: RunningBackend, caplog: pytest.LogCaptureFixture, extra: list[str], message: str
) -> None:
    caplog.set_level(logging.DEBUG)
    raw = _upgrade(backend.host, backend.port, extra)
    status, content_type, body = await _exchange(backend, raw)
    assert (status, content_type) == (400, "application/json")
    assert body == {"error": "bad_request", "message": f"more than one {message} header"}
    assert not [r for r in caplog.records if r.exc_info], "no traceback is logged"


@pytest.mark.asyncio
async def test_two_admin_authorizations_on_a_plain_request_are_a_400(
    backend: RunningBackend,
) -> None:
    raw = (
        b"PUT /admin/faults HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer admin-token-for-tests\r\n"
        b"Authorization: Bearer other\r\nContent-Length: 2\r\n\r\n{}"
    )
    status, _, body = await _exchange(backend, raw)
    assert (status, body) == (
        400,
        {"error": "bad_request", "message": "more than one Authorization header"},
    )


@pytest.mark.asyncio
async def test_two_content_lengths_are_a_400(backend: RunningBackend) -> None:
    raw = b"PUT /admin/faults HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 0\r\n\r\n{}"
    status, _, body = await _exchange(backend, raw)
    assert (status, body["message"]) == (400, "more than one Content-Length header")


@pytest.mark.asyncio
async def test_subprotocols_over_several_headers_still_authenticate(
    backend: RunningBackend, token: Any
) -> None:
    tok = token("alice")
    extra = ["Sec-WebSocket-Protocol: agent-chat.v1", f"Sec-WebSocket-Protocol: bearer.{tok}"]
    reader, writer = await asyncio.open_connection(backend.host, backend.port)
    writer.write(_upgrade(backend.host, backend.port, extra))
    async with asyncio.timeout(10):
        head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    assert head.startswith(b"HTTP/1.1 101")
    assert b"bearer." not in head


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("extra", "status"),
    [
        (["Upgrade: h2c"], 426),
        (["Sec-WebSocket-Version: 8"], 400),
    ],
)
async def test_websockets_own_refusals_are_json(
    backend: RunningBackend, token: Any, extra: list[str], status: int
) -> None:
    raw = _upgrade(backend.host, backend.port, [f"Authorization: Bearer {token('alice')}"])
    for line in extra:  # replace the good header of the same name
        name = line.split(":")[0]
        raw = b"\r\n".join(
            line.encode() if part.split(b":")[0].decode() == name else part
            for part in raw.split(b"\r\n")
        )
    got, content_type, body = await _exchange(backend, raw)
    assert (got, content_type) == (status, "application/json")
    assert body["error"] == "bad_request" and body["message"].startswith("Failed to open")
