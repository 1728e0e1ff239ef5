"""The tests' own servers for the built-in dialects, written from their public descriptions.

- ``GraphqlServer``: graphql-transport-ws (PROTOCOL.md of enisdenjo/graphql-ws):
  ``connection_init`` -> ``connection_ack`` (or close 4401/4403), ``subscribe``
  -> ``next``... ``complete``, ``error``, ``ping``/``pong``.
- ``RealtimeServer``: OpenAI Realtime, text only (its event reference):
  ``session.created``, ``session.update`` -> ``session.updated``,
  ``conversation.item.create``, ``response.create`` -> ``response.created``,
  ``response.output_text.delta``..., ``response.done`` with ``response.status``.
- ``SocketIoServer``: Engine.IO v4 / Socket.IO v5 over a WebSocket: open packet,
  ``2``/``3`` ping-pong (a client that does not answer is dropped), ``40`` CONNECT
  with an auth payload -> ``40{"sid"}`` or ``44{"message"}``, ``42[...]`` events.

Each misbehaves for one user id when told (``faults``), never for the others.
These never import ``probes``: they speak the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Coroutine
from http import HTTPStatus
from typing import Any
from uuid import uuid4

import jwt
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

SECRET = "profile-tests-secret-0123456789abcdef-xyz"
AUDIENCE = "agent-chat"
NONCE = re.compile(r"slwn[0-9a-f]{16}")


def user_of(token: str) -> str | None:
    try:
        return str(jwt.decode(token, SECRET, algorithms=["HS256"], audience=AUDIENCE)["sub"])
    except jwt.InvalidTokenError:
        return None


async def quietly(run: Coroutine[Any, Any, None]) -> None:
    """A server task whose client went away: that ends it, nothing more."""
    with contextlib.suppress(ConnectionClosed):
        await run


class GraphqlServer:
    """graphql-transport-ws, with faults: error, resolver_error, missing_complete,
    foreign_user, foreign_run, refuse_4401, ping, not_json; ``refuse_http`` refuses
    every upgrade with that status (as a gateway in front of the server does)."""

    def __init__(self) -> None:
        self.faults: dict[str, str] = {}
        self.select_subprotocol = True  # False: accept, but select none (a wrong subprotocol)
        self.pong_timeout_s = 1.0
        self.refuse_http: int | None = None  # 401 or 403: refuse every upgrade (a gateway's auth)

    def select(self, connection: ServerConnection, offered: list[str]) -> str | None:
        return "graphql-transport-ws" if self.select_subprotocol else None

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.refuse_http is None:
            return None
        return connection.respond(HTTPStatus(self.refuse_http), "credential refused\n")

    async def handler(self, ws: ServerConnection) -> None:
        try:
            init = json.loads(await ws.recv())
            auth = str((init.get("payload") or {}).get("Authorization", ""))
            user = user_of(auth.removeprefix("Bearer "))
            if init.get("type") != "connection_init" or user is None:
                await ws.close(4403, "Forbidden")
                return
            fault = self.faults.get(user, "")
            if fault == "refuse_4401":
                await ws.close(4401, "Unauthorized")
                return
            await ws.send(json.dumps({"type": "connection_ack"}))
            async for raw in ws:
                message = json.loads(raw)
                if message.get("type") == "subscribe":
                    await self.run(ws, user, message["id"], fault)
        except ConnectionClosed:
            pass

    async def run(self, ws: ServerConnection, user: str, op: str, fault: str) -> None:
        run_id = uuid4().hex[:8]

        def next_(seq: int, kind: str, **changes: Any) -> str:
            event = {"type": kind, "userId": user, "runId": run_id, "seq": seq, "text": "84"}
            payload = {"data": {"agentRun": event | changes}}
            return json.dumps({"id": op, "type": "next", "payload": payload})

        if fault == "ping":
            await ws.send(json.dumps({"type": "ping"}))
            try:
                async with asyncio.timeout(self.pong_timeout_s):
                    pong = json.loads(await ws.recv())
            except TimeoutError:
                await ws.close(4400, "pong not received")
                return
            if pong.get("type") != "pong":
                await ws.close(4400, "expected pong")
                return
        await ws.send(next_(1, "started"))
        if fault == "error":
            payload = [{"message": "agent failed", "extensions": {"code": "INTERNAL"}}]
            await ws.send(json.dumps({"id": op, "type": "error", "payload": payload}))
            return
        if fault == "resolver_error":
            errors = [{"message": "tool crashed", "path": ["agentRun"]}]
            payload = {"data": None, "errors": errors}
            await ws.send(json.dumps({"id": op, "type": "next", "payload": payload}))
            await ws.send(json.dumps({"id": op, "type": "complete"}))
            return
        if fault == "foreign_user":
            await ws.send(next_(2, "thinking", userId="somebody-else"))
        if fault == "foreign_run":
            await ws.send(next_(2, "thinking", runId="another-run"))
        if fault == "not_json":
            await ws.send("{this is not json")
        await ws.send(next_(2, "thinking"))
        await ws.send(next_(3, "answer"))
        if fault == "missing_complete":
            return
        await ws.send(json.dumps({"id": op, "type": "complete"}))


class RealtimeServer:
    """OpenAI Realtime (text), keyed by one static API key. The tests' profile sends the
    user id in an ``X-Probe-User`` header so that faults can be per user: error,
    missing_done, done_failed, foreign_response, foreign_nonce, not_json."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.faults: dict[str, str] = {}
        self.nonces: dict[str, str] = {}  # user -> the nonce its message carried

    def authorised(self, authorization: str) -> bool:
        return authorization == f"Bearer {self.api_key}"

    async def handler(self, ws: ServerConnection) -> None:
        user = ws.request.headers.get("X-Probe-User", "") if ws.request else ""
        fault = self.faults.get(user, "")
        send = ws.send
        try:
            session = {"id": "sess_" + uuid4().hex[:8], "modalities": ["text", "audio"]}
            await send(json.dumps({"type": "session.created", "session": session}))
            async for raw in ws:
                event = json.loads(raw)
                kind = event.get("type")
                if kind == "session.update":
                    session |= event.get("session", {})
                    await send(json.dumps({"type": "session.updated", "session": session}))
                elif kind == "conversation.item.create":
                    text = event["item"]["content"][0]["text"]
                    if found := NONCE.search(text):
                        self.nonces[user] = found.group(0)
                    item = {"id": "item_" + uuid4().hex[:8], **event["item"]}
                    await send(json.dumps({"type": "conversation.item.created", "item": item}))
                elif kind == "response.create":
                    await self.respond(ws, user, fault)
        except ConnectionClosed:
            pass

    async def respond(self, ws: ServerConnection, user: str, fault: str) -> None:
        rid = "resp_" + uuid4().hex[:8]
        nonce = self.nonces.get(user, "")
        response = {"id": rid, "object": "realtime.response", "status": "in_progress"}
        await ws.send(json.dumps({"type": "response.created", "response": response}))
        await ws.send(json.dumps({"type": "rate_limits.updated", "rate_limits": []}))

        def delta(text: str, response_id: str = rid) -> str:
            return json.dumps(
                {"type": "response.output_text.delta", "response_id": response_id,
                 "item_id": "item_x", "output_index": 0, "content_index": 0, "delta": text}
            )  # fmt: skip

        if fault == "error":
            error = {"type": "server_error", "code": "internal", "message": "model failed"}
            await ws.send(json.dumps({"type": "error", "error": error}))
        await ws.send(delta(f"84 ({nonce})"))
        if fault == "foreign_response":
            await ws.send(delta("not yours", response_id="resp_other"))
        if fault == "foreign_nonce":
            other = next((n for u, n in self.nonces.items() if u != user), "slwn" + "0" * 16)
            await ws.send(delta(f"leaked: {other}"))
        if fault == "not_json":
            await ws.send("<html>bad gateway</html>")
        if fault == "missing_done":
            return
        status = "failed" if fault in ("done_failed", "error") else "completed"
        details = None
        if status == "failed":
            details = {"type": "failed", "error": {"type": "server_error", "code": "model_error",
                                                   "message": "the model failed"}}  # fmt: skip
        done = {"id": rid, "object": "realtime.response", "status": status,
                "status_details": details, "output": []}  # fmt: skip
        await ws.send(json.dumps({"type": "response.done", "response": done}))


class SocketIoServer:
    """Engine.IO v4 / Socket.IO v5 over WebSocket, with faults: run_error, missing_done,
    done_failed, foreign_user, foreign_run, refuse, not_json, binary."""

    def __init__(self, ping_interval_ms: int = 100, ping_timeout_ms: int = 300) -> None:
        self.faults: dict[str, str] = {}
        self.ping_interval_ms, self.ping_timeout_ms = ping_interval_ms, ping_timeout_ms
        self.pongs = 0
        self.dropped = 0
        self.deaf_to: set[str] = set()  # users whose pongs the server never sees (lost on the way)

    async def handler(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request else ""
        if "EIO=4" not in path or "transport=websocket" not in path:
            await ws.close(1002, "EIO=4 and transport=websocket required")
            return
        opened = {"sid": uuid4().hex, "upgrades": [], "pingInterval": self.ping_interval_ms,
                  "pingTimeout": self.ping_timeout_ms, "maxPayload": 1000000}  # fmt: skip
        await ws.send("0" + json.dumps(opened))
        pong = asyncio.Event()
        pinger = asyncio.create_task(self.ping(ws, pong))
        runs: list[asyncio.Task[None]] = []
        user = ""
        try:
            async for raw in ws:
                if raw == "3" and user in self.deaf_to:
                    continue
                if raw == "3":
                    self.pongs += 1
                    pong.set()
                elif raw.startswith("40"):
                    auth = json.loads(raw[2:] or "{}")
                    user = user_of(str(auth.get("token", ""))) or ""
                    if not user or self.faults.get(user) == "refuse":
                        await ws.send('44{"message":"not authorized"}')
                        continue
                    await ws.send("40" + json.dumps({"sid": uuid4().hex}))
                elif raw.startswith("42") and user:
                    name, payload = json.loads(raw[2:])
                    if name == "chat":  # run beside the reading: pongs are read mid-run
                        fault = self.faults.get(user, "")
                        run = self.run(ws, user, payload["id"], fault)
                        runs.append(asyncio.create_task(quietly(run)))
        except ConnectionClosed:
            pass
        finally:
            pinger.cancel()
            for task in runs:
                task.cancel()

    async def ping(self, ws: ServerConnection, pong: asyncio.Event) -> None:
        """Ping every interval; a client that does not pong within the timeout is dropped."""
        while True:
            await asyncio.sleep(self.ping_interval_ms / 1000)
            pong.clear()
            await ws.send("2")
            try:
                await asyncio.wait_for(pong.wait(), self.ping_timeout_ms / 1000)
            except TimeoutError:
                self.dropped += 1
                ws.transport.abort()  # as Engine.IO servers do: the transport just closes
                return

    async def run(self, ws: ServerConnection, user: str, ref: str, fault: str) -> None:
        run_id = uuid4().hex[:8]

        def event(name: str, seq: int, **changes: Any) -> str:
            body = {"ref": ref, "user_id": user, "run_id": run_id, "seq": seq} | changes
            return "42" + json.dumps([name, body])

        await ws.send(event("run_started", 1))
        await asyncio.sleep(0.25)  # long enough for the server to ping in the middle of a run
        if fault == "run_error":
            await ws.send(event("run_error", 2, message="agent failed", code="internal"))
            return
        if fault == "foreign_user":
            await ws.send(event("run_delta", 2, user_id="somebody-else"))
        if fault == "foreign_run":
            await ws.send(event("run_delta", 2, run_id="another-run"))
        if fault == "not_json":
            await ws.send("42[not json")
        if fault == "binary":
            await ws.send(b"\x04\x01")
        await ws.send(event("run_delta", 2, text="84"))
        if fault == "missing_done":
            return
        status = "failed" if fault == "done_failed" else "ok"
        await ws.send(event("run_done", 3, status=status))
