"""A websockets server connection that also answers plain HTTP requests with bodies.

Why: websockets' HTTP parser accepts only body-less requests, so
`PUT /admin/faults` with a JSON body never reaches `process_request`. Rather
than run a second listener or proxy every byte through a pre-router, the
server passes this class as `serve(create_connection=...)` (websockets'
documented escape hatch). It looks at the first bytes of each TCP
connection, before the WebSocket protocol sees anything:

- `GET ...` (WebSocket upgrades, /healthz, GET /admin/faults): the buffered
  bytes go to websockets unchanged, and the connection is an ordinary
  `ServerConnection` from then on (no per-frame overhead);
- any other method: this class reads the head and the `Content-Length`
  body itself, answers through `HttpApi`, and closes. websockets' handler
  sees a connection that closed before its handshake and just returns.

It also holds the session slot taken at the handshake (max connections)
and releases it when the TCP connection is lost, whatever the cause.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from typing import Any

from websockets.asyncio.server import ServerConnection

from backend.auth import Identity
from backend.httpapi import HttpApi, HttpParseError, HttpReply, parse_head_and_body
from backend.responses import json_refusals

log = logging.getLogger(__name__)

METHOD_SNIFF_BYTES = 8


class Mode(enum.Enum):
    """What the connection does with incoming bytes."""

    SNIFF = "sniff"
    WEBSOCKET = "websocket"
    PLAIN_HTTP = "plain_http"
    DONE = "done"


class Slots:
    """Connections holding a session slot, bounded by `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: set[ServerConnection] = set()

    def __len__(self) -> int:
        return len(self._held)

    def take(self, connection: ServerConnection) -> bool:
        """Take a slot for `connection`; False when all are taken."""
        if len(self._held) >= self.limit:
            return False
        self._held.add(connection)
        return True

    def release(self, connection: ServerConnection) -> None:
        """Give the slot back (idempotent)."""
        self._held.discard(connection)


class RoutedConnection(ServerConnection):
    """A `ServerConnection` with a plain-HTTP side door; see the module docstring."""

    http_api: HttpApi
    slots: Slots

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # websockets' own refusals (sent by its parser, past every hook) leave as JSON too.
        protocol = self.protocol
        protocol.send_response = json_refusals(protocol.send_response)  # type: ignore[method-assign,assignment]
        self.identity: Identity | None = None
        self._mode = Mode.SNIFF
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        """Sniff the method, then hand bytes to websockets or read a plain request."""
        if self._mode is Mode.WEBSOCKET:
            super().data_received(data)
            return
        if self._mode is Mode.DONE:
            return
        self._buffer += data
        if self._mode is Mode.SNIFF:
            self._sniff()
        if self._mode is Mode.PLAIN_HTTP:
            self._read_plain()

    def _sniff(self) -> None:
        head = self._buffer[:METHOD_SNIFF_BYTES]
        if b" " not in head and len(head) < METHOD_SNIFF_BYTES:
            return
        if head.startswith(b"GET "):
            self._mode = Mode.WEBSOCKET
            buffered, self._buffer = self._buffer, b""
            super().data_received(buffered)
        else:
            self._mode = Mode.PLAIN_HTTP

    def _read_plain(self) -> None:
        try:
            request = parse_head_and_body(self._buffer)
        except HttpParseError as exc:
            self._answer(HttpReply(exc.status, {"error": "bad_request", "message": str(exc)}))
            return
        if request is None:
            return
        try:
            reply = self.http_api.handle(request) or HttpReply(404, {"error": "not_found"})
        except Exception:
            log.exception("plain HTTP request %s %s failed", request.method, request.path)
            reply = HttpReply(500, {"error": "internal", "message": "internal error"})
        self._answer(reply)

    def _answer(self, reply: HttpReply) -> None:
        self._mode = Mode.DONE
        self._buffer = b""
        transport = self.transport
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(reply.serialize())
        transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        """Release the session slot, then let websockets finish the connection."""
        self.slots.release(self)
        super().connection_lost(exc)


def connection_class(http_api: HttpApi, slots: Slots) -> type[RoutedConnection]:
    """A `RoutedConnection` subclass bound to one server's HTTP API and slots."""
    return type(
        "BoundRoutedConnection", (RoutedConnection,), {"http_api": http_api, "slots": slots}
    )
