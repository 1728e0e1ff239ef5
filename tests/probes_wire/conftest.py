"""A small, deliberately faulty agent-chat server (PROTOCOL.md) for the probe tests.

It is the tests' own: the probes must work against any server that speaks the
protocol, so these tests never import ``backend``. Each user id can be given a
fault; the server then misbehaves for that user only.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any
from uuid import uuid4

import jwt
import pytest
import pytest_asyncio
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

SECRET = "probes-wire-tests-secret-0123456789abcdef"  # >= 32 bytes: HS256 key length
MB = 1024 * 1024
RESULT_STORE_MS = 1.5
DB_MS = {"create_thread": 0.75, "post_messages": 2.5, "get_thread": 1.25}

# What a chat is answered with: (type, extra fields). Six messages, seq 1..6.
STREAM: tuple[tuple[str, dict[str, Any]], ...] = (
    ("agent_started", {}),
    ("agent_thinking", {"text": "12 * 7"}),
    ("tool_executing", {"tool": "calculator"}),
    ("tool_completed", {"tool": "calculator", "result": "84"}),
    ("agent_thinking", {"text": "done"}),
    ("agent_completed", {"answer": "84", "db_ms": {"result_store": RESULT_STORE_MS}}),
)


def _json_response(status: int, body: dict[str, Any]) -> Response:
    data = json.dumps(body).encode()
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return Response(status, HTTPStatus(status).phrase, headers, data)


def _token(request: Request) -> str:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ")
    for offer in request.headers.get_all("Sec-WebSocket-Protocol"):
        for item in offer.split(","):
            if item.strip().startswith("bearer."):
                return item.strip().removeprefix("bearer.")
    return ""


class FaultyServer:
    """Speaks PROTOCOL.md, except for the faults it is told to commit.

    Faults per user id (``faults``): refuse_401, refuse_503, hang_handshake,
    close_1011, drop_event, reorder, seq_gap, cross_talk, foreign_run,
    drop_connection, silent, not_json, binary, delay, error_reply,
    close_1000_early, db_forbidden. ``accept_bad_tokens`` makes it accept a
    wrongly signed token, then close with 1011 or keep the socket open, as a
    broken server might.
    """

    secret = SECRET
    result_store_ms = RESULT_STORE_MS
    db_ms = DB_MS
    stream = STREAM

    def __init__(self) -> None:
        self.faults: dict[str, str] = {}
        self.accept_bad_tokens = ""  # "", "close_1011" or "keep_open"
        self.bad_token_status = 401
        self.rss_bytes = 200 * MB + MB // 2
        self.leak_bytes_per_run = 0
        self.delay_s = 0.2
        self.port = 0
        self.threads: dict[str, tuple[str, list[str]]] = {}
        self.release = asyncio.Event()  # lets hung handshakes go at teardown

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def healthz(self) -> str:
        return f"http://127.0.0.1:{self.port}/healthz"

    async def process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        if request.path == "/healthz":
            return _json_response(200, {"status": "ok", "pid": 1, "rss_bytes": self.rss_bytes})
        if request.path != "/ws":
            return _json_response(404, {"error": "not_found"})
        try:
            claims = jwt.decode(
                _token(request), SECRET, algorithms=["HS256"], audience="agent-chat"
            )
        except jwt.InvalidTokenError as exc:
            if self.accept_bad_tokens:
                connection.user_id = None  # type: ignore[attr-defined]
                return None
            return _json_response(
                self.bad_token_status, {"error": "unauthorized", "reason": str(exc)}
            )
        fault = self.faults.get(claims["sub"], "")
        if fault == "refuse_401":
            return _json_response(401, {"error": "unauthorized", "reason": "told to"})
        if fault == "refuse_503":
            return _json_response(503, {"error": "unavailable"})
        if fault == "hang_handshake":
            await self.release.wait()
        connection.user_id = claims["sub"]  # type: ignore[attr-defined]
        return None

    async def handler(self, ws: ServerConnection) -> None:
        user_id: str | None = ws.user_id  # type: ignore[attr-defined]
        if user_id is None and self.accept_bad_tokens == "close_1011":
            await ws.close(1011, "internal error")
            return
        if user_id is None:
            await ws.wait_closed()
            return
        fault = self.faults.get(user_id, "")
        try:
            async for raw in ws:
                request = json.loads(raw)
                if request["type"] == "chat":
                    await self.chat(ws, user_id, request["id"], fault)
                else:
                    await ws.send(json.dumps(self.database(user_id, request, fault)))
        except ConnectionClosed:
            pass

    async def chat(self, ws: ServerConnection, user_id: str, ref: str, fault: str) -> None:
        self.rss_bytes += self.leak_bytes_per_run
        run = {"run_id": f"run-{uuid4().hex[:8]}", "thread_id": f"thread-{user_id}"}
        if fault == "silent":
            return
        if fault == "error_reply":
            reply = {"type": "error", "code": "internal", "message": "agent failed", "ref": ref}
            await ws.send(json.dumps({**reply, "ts": time.time() * 1000}))
            return
        stream = list(enumerate(STREAM, start=1))
        if fault == "drop_event":
            stream = [item for item in stream if item[1][0] != "tool_completed"]
        if fault == "reorder":
            stream[2], stream[3] = stream[3], stream[2]
        if fault == "seq_gap":
            stream = [(seq + (seq >= 4), item) for seq, item in stream]
        for i, (seq, (kind, extra)) in enumerate(stream):
            if i == 2 and fault in ("close_1011", "drop_connection", "close_1000_early"):
                if fault == "drop_connection":
                    ws.transport.abort()
                else:
                    await ws.close(1011 if fault == "close_1011" else 1000, "agent crashed")
                return
            if i == 3 and fault == "cross_talk":
                other = {"run_id": "run-other", "thread_id": "thread-other", "user_id": "intruder"}
                await ws.send(json.dumps({"type": "agent_thinking", "ref": "x", "seq": 2, **other}))
            if i == 3 and fault == "foreign_run":
                other = {"run_id": "run-other", "thread_id": run["thread_id"], "user_id": user_id}
                await ws.send(json.dumps({"type": "agent_thinking", "ref": "x", "seq": 2, **other}))
            if i == 3 and fault == "not_json":
                await ws.send("this is not json {")
            if i == 3 and fault == "binary":
                await ws.send(b"\x00\x01")
            if kind == "agent_completed" and fault == "delay":
                await asyncio.sleep(self.delay_s)
            message = {"type": kind, "ref": ref, "seq": seq, "user_id": user_id, **run, **extra}
            await ws.send(json.dumps({**message, "ts": time.time() * 1000}))

    def database(self, user_id: str, request: dict[str, Any], fault: str) -> dict[str, Any]:
        kind, ref = request["type"], request["id"]
        base = {"ref": ref, "ts": time.time() * 1000}
        if kind == "create_thread":
            thread_id = f"t-{uuid4().hex[:8]}"
            self.threads[thread_id] = (user_id, [])
            return {**base, "type": "thread_created", "thread_id": thread_id, "db_ms": DB_MS[kind]}
        _, messages = self.threads[request["thread_id"]]
        if fault == "db_forbidden" and kind == "get_thread":
            return {**base, "type": "error", "code": "forbidden", "message": "not yours"}
        if kind == "post_messages":
            messages.extend(request["messages"])
            count = len(request["messages"])
            stored = {"type": "messages_stored", "count": count}
            return {**base, **stored, "thread_id": request["thread_id"], "db_ms": DB_MS[kind]}
        thread = {"type": "thread", "messages": messages, "results": []}
        return {**base, **thread, "thread_id": request["thread_id"], "db_ms": DB_MS[kind]}


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FaultyServer]:
    """A FaultyServer on a free loopback port, behaving well until told otherwise."""
    faulty = FaultyServer()
    async with serve(
        faulty.handler,
        "127.0.0.1",
        0,
        process_request=faulty.process_request,
        subprotocols=["agent-chat.v1"],  # type: ignore[list-item]
    ) as ws_server:
        faulty.port = ws_server.sockets[0].getsockname()[1]
        yield faulty
        faulty.release.set()


@pytest.fixture
def down_url() -> str:
    """A loopback URL where nothing listens (a port just freed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"ws://127.0.0.1:{port}/ws"
