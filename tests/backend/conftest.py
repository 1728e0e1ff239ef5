"""Fixtures for the backend suite: real servers on port 0, real SQLite files, real clients.

Helpers are exposed as fixtures (not imported) because the suite runs with
`--import-mode=importlib`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from websockets.asyncio.client import ClientConnection, connect

from backend.auth import issue_token
from backend.config import BackendConfig
from backend.server import RunningBackend, running

SECRET = "test-secret-" + "x" * 64
ADMIN = "admin-token-for-tests"


@pytest.fixture
def secret() -> str:
    """The HS256 secret every test server uses."""
    return SECRET


@pytest.fixture
def config(tmp_path: Path) -> BackendConfig:
    """A fast test configuration: free port, temp DB, no step delay, admin on."""
    return BackendConfig(
        jwt_key=SECRET,
        jwt_leeway_s=0.0,
        port=0,
        db_path=tmp_path / "backend.db",
        admin_token=ADMIN,
        step_delay_ms=0.0,
        fault_seed=7,
        close_timeout_s=2.0,
    )


@pytest_asyncio.fixture
async def backend(config: BackendConfig) -> AsyncIterator[RunningBackend]:
    """A backend serving `config`."""
    async with running(config) as srv:
        yield srv


@pytest.fixture
def start() -> Callable[..., Any]:
    """Start another backend: `async with start(config, **overrides) as srv:`."""

    def starter(config: BackendConfig, **overrides: Any) -> Any:
        return running(replace(config, **overrides))

    return starter


def token_for(user: str, ttl_s: float = 300.0, **kwargs: Any) -> str:
    return issue_token(SECRET, user, ttl_s, **kwargs)


@pytest.fixture
def token() -> Callable[..., str]:
    """Mint a token: `token("alice", ttl_s=60, aud=..., algorithm=...)`."""
    return token_for


@dataclass
class Users:
    """Opens client connections for users and closes them at teardown."""

    url: str
    opened: list[ClientConnection] = field(default_factory=list)

    async def connect(
        self, user: str, *, via: str = "header", token: str | None = None, **kwargs: Any
    ) -> ClientConnection:
        """Connect as `user`, presenting the token by header or subprotocol."""
        tok = token if token is not None else token_for(user)
        if via == "header":
            kwargs.setdefault("additional_headers", {"Authorization": f"Bearer {tok}"})
        else:
            kwargs.setdefault("subprotocols", ["agent-chat.v1", f"bearer.{tok}"])
        ws = await connect(self.url, proxy=None, open_timeout=10, **kwargs)
        self.opened.append(ws)
        return ws

    async def close_all(self) -> None:
        for ws in self.opened:
            await ws.close()


@pytest_asyncio.fixture
async def users(backend: RunningBackend) -> AsyncIterator[Users]:
    """Client connections to the `backend` fixture."""
    pool = Users(backend.url)
    yield pool
    await pool.close_all()


async def request(ws: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    """Send one request and return the reply that refers to it."""
    await ws.send(json.dumps(message))
    while True:
        reply = json.loads(await ws.recv())
        if reply.get("ref") == message.get("id"):
            return reply


async def chat(ws: ClientConnection, text: str, ref: str = "c1", **fields: Any) -> list[dict]:
    """Run one chat; the events (or the error) that answer it, in arrival order."""
    await ws.send(json.dumps({"type": "chat", "id": ref, "text": text, **fields}))
    events: list[dict[str, Any]] = []
    while not events or events[-1]["type"] not in ("agent_completed", "error"):
        event = json.loads(await ws.recv())
        if event.get("ref") == ref:
            events.append(event)
    return events


@pytest.fixture
def ask() -> Callable[[ClientConnection, dict[str, Any]], Awaitable[dict[str, Any]]]:
    """`await ask(ws, message)`: one request, its reply."""
    return request


@pytest.fixture
def run_chat() -> Callable[..., Awaitable[list[dict[str, Any]]]]:
    """`await run_chat(ws, text, ref=..., thread_id=...)`: the events of one run."""
    return chat


def assert_complete(events: list[dict[str, Any]], user: str) -> None:
    """The protocol's 'complete' definition, plus isolation for `user`."""
    types = [e["type"] for e in events]
    assert types[0] == "agent_started" and types[-1] == "agent_completed", types
    assert types.count("agent_started") == types.count("agent_completed") == 1
    assert "agent_thinking" in types
    for index, kind in enumerate(types):
        if kind == "tool_executing":
            assert types[index + 1] == "tool_completed"
            assert events[index + 1]["tool"] == events[index]["tool"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert {e["user_id"] for e in events} == {user}
    assert len({e["run_id"] for e in events}) == 1
    assert len({e["thread_id"] for e in events}) == 1


@pytest.fixture
def complete() -> Callable[[list[dict[str, Any]], str], None]:
    """`complete(events, user)` asserts a complete, isolated stream."""
    return assert_complete


async def http_call(
    host: str,
    port: int,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, Any]]:
    """One plain HTTP/1.1 request over a raw socket -> (status, JSON body)."""
    reader, writer = await asyncio.open_connection(host, port)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, payload = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(payload)


@pytest.fixture
def http(backend: RunningBackend) -> Callable[..., Awaitable[tuple[int, dict[str, Any]]]]:
    """`await http("GET", "/healthz", headers=..., body=...)` against `backend`."""

    def call(method: str, path: str, **kwargs: Any) -> Awaitable[tuple[int, dict[str, Any]]]:
        return http_call(backend.host, backend.port, method, path, **kwargs)

    return call


@pytest.fixture
def http_to() -> Callable[..., Awaitable[tuple[int, dict[str, Any]]]]:
    """`await http_to(srv, "GET", "/healthz", headers=..., body=...)` against any server."""

    def call(srv: RunningBackend, method: str, path: str, **kwargs: Any) -> Any:
        return http_call(srv.host, srv.port, method, path, **kwargs)

    return call


@pytest.fixture
def admin() -> Callable[..., Awaitable[tuple[int, dict[str, Any]]]]:
    """`await admin(srv, "PUT", {"close_1011": 1})`: the fault API with the admin token."""

    def call(srv: RunningBackend, method: str, faults: dict[str, Any] | None = None) -> Any:
        body = None if faults is None else json.dumps(faults).encode()
        auth = {"Authorization": f"Bearer {ADMIN}"}
        return http_call(srv.host, srv.port, method, "/admin/faults", headers=auth, body=body)

    return call


async def eventually(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait until `predicate()` holds (a condition, polled), failing after `timeout_s`."""
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.01)


@pytest.fixture
def until() -> Callable[..., Awaitable[None]]:
    """`await until(lambda: condition)`."""
    return eventually


class RawClient:
    """A WebSocket client on a bare socket, for what websockets' client will not do.

    It can shrink its receive buffer and stop reading (a slow reader): its transport
    reads from the socket only inside `read_frame`, so between reads the server's bytes
    wait in the kernel and TCP pushes back. (A `StreamReader` alone reads eagerly into
    memory, up to twice its limit: a client that "does not read" would take megabytes,
    and the server would never see a full send buffer.)
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int, token: str, rcvbuf: int | None = None) -> RawClient:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 24)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
            ).encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        writer.transport.pause_reading()
        return cls(reader, writer)

    def send_text(self, payload: bytes) -> None:
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x81, 0x80 | size)
        elif size < 65536:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, size)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)

    async def read_frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next unmasked server frame."""
        transport = self.writer.transport
        transport.resume_reading()
        try:
            first, second = await self.reader.readexactly(2)
            size = second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
            return first & 0x0F, await self.reader.readexactly(size)
        finally:
            if not transport.is_closing():
                transport.pause_reading()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


@pytest.fixture
def raw_client() -> Callable[..., Awaitable[RawClient]]:
    """`await raw_client(host, port, token, rcvbuf=4096)`."""
    return RawClient.open
