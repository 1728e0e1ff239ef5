"""The ``socketio`` frame codec: Engine.IO v4 text packets carrying Socket.IO v5 packets.

Pure (bytes/str in, events out). The codec owns the transport, as PROFILES.md
says: it adds ``EIO=4`` and ``transport=websocket`` to the URL, reads the
open packet ``0{"sid":...,"pingInterval":...}``, and answers every server
ping ``2`` with ``3`` itself; open, ping, pong and noop packets are no events.
Socket.IO packets of the default namespace become JSON arrays::

    42["name", arg, ...]   -> ["name", arg, ...]      (EVENT; an ack id is dropped)
    43<id>[arg, ...]       -> ["ack", arg, ...]       (ACK)
    40{...}                -> ["connect", {...}]      (CONNECT)
    44{...}                -> ["connect_error", {...}] (CONNECT_ERROR)
    41                     -> ["disconnect"]          (DISCONNECT)

References: socketio/engine.io-protocol (v4) and socketio/socket.io-protocol (v5).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from probes.target.frames import CONTROL, FrameError

EIO_OPEN, EIO_CLOSE, EIO_PING, EIO_PONG, EIO_MESSAGE, EIO_UPGRADE, EIO_NOOP = "0123456"
SIO_NAMES = {"0": "connect", "1": "disconnect", "4": "connect_error"}


class SocketIoCodec:
    """One session's Engine.IO/Socket.IO reader; ``outgoing`` collects its pongs."""

    def __init__(self) -> None:
        self.outgoing: list[str] = []
        self.open: dict[str, Any] | None = None  # the server's open packet, once read

    def url(self, target: str) -> str:
        parts = urlsplit(target)
        query = parse_qsl(parts.query, keep_blank_values=True)
        names = {k for k, _ in query}
        query += [(k, v) for k, v in (("EIO", "4"), ("transport", "websocket")) if k not in names]
        return urlunsplit(parts._replace(query=urlencode(query)))

    def decode(self, data: str | bytes) -> Any:
        if type(data) is not str:
            raise FrameError("binary frame (Socket.IO binary attachments are not supported)")
        if not data:
            raise FrameError("empty Engine.IO packet")
        kind, body = data[0], data[1:]
        if kind == EIO_MESSAGE:
            return self._socketio(body)
        if kind == EIO_PING:
            self.outgoing.append(EIO_PONG + body)
            return CONTROL
        if kind == EIO_OPEN:
            self.open = _json(body, "Engine.IO open packet")
            return CONTROL
        if kind in (EIO_PONG, EIO_NOOP, EIO_CLOSE, EIO_UPGRADE):
            return CONTROL
        raise FrameError(f"not an Engine.IO packet: {data[:40]!r}")

    def _socketio(self, packet: str) -> Any:
        if not packet:
            raise FrameError("empty Socket.IO packet")
        kind, rest = packet[0], packet[1:]
        if kind in "56":
            raise FrameError("binary Socket.IO packet (not supported)")
        if rest.startswith("/"):
            namespace, _, rest = rest.partition(",")
            if namespace != "/":
                raise FrameError(f"packet for namespace {namespace} (default namespace only)")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        rest = rest[digits:]
        if kind in SIO_NAMES:
            payload = _json(rest, "Socket.IO packet") if rest else None
            return [SIO_NAMES[kind]] + ([] if payload is None else [payload])
        args = _json(rest, "Socket.IO packet")
        if kind == "2":
            if type(args) is not list or not args or type(args[0]) is not str:
                raise FrameError("Socket.IO EVENT without an event name")
            return args
        if kind == "3" and type(args) is list:
            return ["ack", *args]
        raise FrameError(f"not a Socket.IO packet: {packet[:40]!r}")


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise FrameError(f"{what} is not JSON: {exc}") from None
