"""Frame codecs: what a WebSocket message means in a profile's dialect (PROFILES.md).

Pure, in the websockets model: a codec takes the text (or bytes) of one
message and returns the decoded event, ``CONTROL`` for a transport packet
that is no event, or raises ``FrameError``; replies the transport itself owes
the server (Engine.IO pongs) collect in ``outgoing`` for the session to send.
No I/O here. ``json`` is here; ``socketio`` is ``probes.target.socketio``.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

CONTROL: Any = object()  # a packet the codec consumed itself (open, ping, noop)


class FrameError(ValueError):
    """A message the codec cannot read: the session records a ``protocol_error``."""


class Codec(Protocol):
    """One session's frame codec (a codec may keep state, such as the Engine.IO open)."""

    outgoing: list[str]

    def url(self, target: str) -> str:
        """The URL to connect to (a codec that owns a transport adds its query)."""
        ...

    def decode(self, data: str | bytes) -> Any:
        """The event in ``data``, or ``CONTROL``; raises ``FrameError``."""
        ...


class JsonCodec:
    """Every text frame is one JSON value; a frame that is not JSON, or binary, is an error."""

    def __init__(self, binary_note: str) -> None:
        self.outgoing: list[str] = []  # never written: JSON has no transport packets
        self.binary_note = binary_note
        self._loads = json.loads

    def url(self, target: str) -> str:
        return target

    def decode(self, data: str | bytes) -> Any:
        if type(data) is not str:
            raise FrameError(f"binary frame ({self.binary_note})")
        try:
            return self._loads(data)
        except ValueError as exc:
            raise FrameError(f"frame is not JSON: {exc}") from None
