"""The tests' own server for a team's own JSON envelope ("acme"), to probe with profile
files written from PROFILES.md alone (``tests/profiles/files/``).

It never imports ``probes``: it speaks the wire, and notes what it really did for
every session (``truth``), so a test can compare the records with the server's
own account, session by session.

The dialect, in two event shapes (``style``):

- ``nested``: ``{"rid": R, "event": {"type": T, "seq": N, "run": RUN, "user": U, ...}}``
- ``keys``: ``{"rid": R, "user": U, "conv": RUN, "seq": N, T: {...}}`` (the type is a key)

On connect the server greets (``hello``/``ready``). Credentials are read from the
forms in ``accept``: ``header`` (``X-Api-Key`` or ``Authorization: Bearer``), ``query``
(``key`` or ``access_token``), ``subprotocol`` (``acme.key.<base64url>``) at the upgrade,
refused with HTTP 401 whose body echoes the request path (so a query-string token
comes back); ``message``: the first frame ``{"op": "auth", "token": T}``, refused as
``refuse`` says: ``event`` (``auth_failed``, whose text echoes the token) or ``close``
(4401). ``accept = ()`` is no auth at all.
A static ``key`` replaces JWTs; the user is then the ``user`` query parameter.
``{"op": "config"}`` -> ``config_ok``; ``{"op": "run", "rid": R, "input": ...}`` runs.

Faults per user (``faults``): error, missing_done, done_failed, foreign_nonce,
foreign_user, seq_gap, reorder, unpaired_tool, not_json, close_1011, keepalive,
refuse, config_rejected.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from dataclasses import dataclass, field
from http import HTTPStatus
from time import perf_counter
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.profiles.dialects import user_of

NONCE = re.compile(r"slwn[0-9a-f]{16}")


@dataclass
class Truth:
    """What the server did in one session, on its own clock (``perf_counter`` seconds)."""

    user: str
    fault: str
    chat_at: float | None = None  # the run frame was read
    sent: list[tuple[str, float]] = field(default_factory=list)  # (type, just before sending)

    def ms_to(self, kinds: tuple[str, ...]) -> float | None:
        """Run frame read -> the first event of one of ``kinds`` sent, in ms."""
        at = next((t for k, t in self.sent if k in kinds), None)
        return None if at is None or self.chat_at is None else (at - self.chat_at) * 1000.0


class Acme:
    def __init__(
        self,
        *,
        accept: tuple[str, ...] = ("message",),
        refuse: str = "event",
        key: str | None = None,
        style: str = "nested",
    ) -> None:
        self.accept, self.refuse, self.key, self.style = accept, refuse, key, style
        self.faults: dict[str, str] = {}
        self.truth: list[Truth] = []
        self.nonces: dict[str, str] = {}
        self.requests: list[str] = []  # every request path (the token in the query, for auth)

    # --- credentials -------------------------------------------------------------

    def _user(self, credential: str, request: Request | None) -> str | None:
        if self.key is None:
            return user_of(credential)
        if credential != self.key:
            return None
        query = parse_qs(urlsplit(request.path).query) if request else {}
        return query.get("user", [""])[0] or None

    def _upgrade_credential(self, request: Request) -> str:
        query = parse_qs(urlsplit(request.path).query)
        if "header" in self.accept:
            found = request.headers.get("X-Api-Key") or request.headers.get("Authorization", "")
            if found:
                return found.removeprefix("Bearer ")
        if "query" in self.accept and (query.get("key") or query.get("access_token")):
            return (query.get("key") or query.get("access_token") or [""])[0]
        if "subprotocol" in self.accept:
            for offer in request.headers.get_all("Sec-WebSocket-Protocol"):
                for item in (i.strip() for i in offer.split(",")):
                    if item.startswith("acme.key."):
                        encoded = item.removeprefix("acme.key.")
                        padded = encoded + "=" * (-len(encoded) % 4)
                        return base64.urlsafe_b64decode(padded).decode()
        return ""

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.requests.append(request.path)
        query = parse_qs(urlsplit(request.path).query)
        if not self.accept:  # no auth: who is who comes from the query
            connection.acme_user = query.get("user", ["anonymous"])[0]  # type: ignore[attr-defined]
            return None
        if "message" in self.accept:
            return None
        user = self._user(self._upgrade_credential(request), request)
        if user is None or self.faults.get(user) == "refuse":
            body = json.dumps({"error": "invalid credential", "request": request.path}).encode()
            headers = Headers([("Content-Type", "application/json"),
                               ("Content-Length", str(len(body)))])  # fmt: skip
            return Response(401, HTTPStatus(401).phrase, headers, body)
        connection.acme_user = user  # type: ignore[attr-defined]
        return None

    def select(self, connection: ServerConnection, offered: list[str]) -> str | None:
        return "acme.v1" if "acme.v1" in offered else None

    # --- the conversation ----------------------------------------------------------

    def _frame(self, kind: str, rid: str, run: str, user: str, seq: int | None, **body: Any) -> str:
        """One frame; fields without a value (a greeting has no run, no user) are left out."""
        if self.style == "keys":
            envelope = {"rid": rid, "user": user, "conv": run, "seq": seq, kind: body}
        else:
            event = {"type": kind, "seq": seq, "run": run, "user": user, **body}
            event = {k: v for k, v in event.items() if v not in ("", None)}
            envelope = {"rid": rid, "event": event}
        return json.dumps({k: v for k, v in envelope.items() if v not in ("", None)})

    async def handler(self, ws: ServerConnection) -> None:
        user: str | None = getattr(ws, "acme_user", None)
        greeting = "ready" if self.style == "keys" else "hello"
        try:
            await ws.send(self._frame(greeting, "", "", "", None, server="acme/1"))
            if "message" in self.accept:
                auth = json.loads(await ws.recv())
                token = str(auth.get("token", ""))
                user = self._user(token, ws.request) if auth.get("op") == "auth" else None
                if user is None or self.faults.get(user) == "refuse":
                    if self.refuse == "close":
                        await ws.close(4401, "unauthorized")
                        return
                    text = f"token {token} is not valid"  # echoes the credential, as some do
                    await ws.send(self._frame("auth_failed", "", "", "", None, message=text))
                    return
                await ws.send(self._frame("auth_ok", "", "", user, None))
            assert user is not None
            async for raw in ws:
                message = json.loads(raw)
                op = message.get("op")
                if op == "config":
                    rejected = self.faults.get(user) == "config_rejected"
                    kind = "config_rejected" if rejected else "config_ok"
                    await ws.send(self._frame(kind, "", "", user, None, message="no tools here"))
                elif op == "run":
                    truth = Truth(user, self.faults.get(user, ""), chat_at=perf_counter())
                    self.truth.append(truth)
                    if found := NONCE.search(str(message.get("input", ""))):
                        self.nonces[user] = found.group(0)
                    await self.run(ws, truth, str(message.get("rid")))
        except ConnectionClosed:
            pass

    async def run(self, ws: ServerConnection, truth: Truth, rid: str) -> None:
        user, fault, run = truth.user, truth.fault, uuid4().hex[:8]
        nonce = self.nonces.get(user, "")

        async def send(kind: str, seq: int | None, who: str = user, **body: Any) -> None:
            text = self._frame(kind, rid, run, who, seq, **body)
            truth.sent.append((kind, perf_counter()))
            await ws.send(text)

        if self.style == "keys":
            await self.run_keys(ws, truth, send)
            return
        if fault == "reorder":
            await send("token", 2, text="early")
        await send("started", 1)
        if fault == "keepalive":
            await ws.send(json.dumps({"event": {"type": "keepalive", "id": 7}}))
            try:
                async with asyncio.timeout(0.5):
                    ack = json.loads(await ws.recv())
            except TimeoutError:
                await ws.close(4408, "keepalive not acknowledged")
                return
            if ack != {"op": "keepalive_ack", "id": 7}:
                await ws.close(4400, "bad keepalive ack")
                return
        leaked = next((n for u, n in self.nonces.items() if u != user), "slwn" + "0" * 16)
        text = f"84 [{leaked if fault == 'foreign_nonce' else nonce}]"
        await send("token", 2, who="somebody-else" if fault == "foreign_user" else user, text=text)
        if fault == "error":
            await send("failure", None, error={"code": "E_AGENT", "message": "agent failed"})
            return
        if fault == "not_json":
            await ws.send("<html>502 bad gateway</html>")
        if fault == "close_1011":
            await ws.close(1011, "internal error")
            return
        await send("tool_call", 3, tool="search")
        if fault != "unpaired_tool":
            await send("tool_result", 4, tool="search")
        await send("token", 6 if fault == "seq_gap" else 5, text="done")
        if fault == "missing_done":
            return
        status = "failed" if fault == "done_failed" else "done"
        await send("finish", 7 if fault == "seq_gap" else 6, status=status)

    async def run_keys(self, ws: ServerConnection, truth: Truth, send: Any) -> None:
        fault = truth.fault
        await send("delta", 1, text="12 * 7")
        if fault == "error":
            await send("error", 2, code="E_TOOL", message="tool failed")
        if fault == "foreign_user":
            await send("delta", 2, who="somebody-else", text="not yours")
        if fault == "not_json":
            await ws.send("{oops")
        await send("delta", 3, text="84")
        if fault == "missing_done":
            return
        await send("done", 4, ok=fault != "done_failed")
