"""Opening a profile's WebSocket connection, and the one mapping from library
exceptions to failure reasons.

``connect_for`` presents the credential the way the user's auth mode says
(header, subprotocol, query parameter, or none here: a ``message`` is sent
by the session after the upgrade) and adds the profile's query, headers and
subprotocols. ``classify`` is the only place that turns an exception into a
``Failure``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from time import perf_counter
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidStatus,
    NegotiationError,
    WebSocketException,
)
from websockets.frames import DATA_OPCODES, Frame
from websockets.protocol import Event as ProtocolEvent
from websockets.typing import Subprotocol

from probes.judging.findings import Failure
from probes.profiles.model import Profile
from probes.profiles.templates import fill, token_b64url
from probes.records import ABNORMAL_CLOSE, PLANNED_CLOSES, AuthMode, Reason
from probes.round_timing import CLOSE_GRACE_S

# Errors a target (or its URL) can cause; anything else is a bug here and is raised.
TARGET_ERRORS = (OSError, WebSocketException, ValueError)  # TimeoutError is an OSError


class StampedConnection(ClientConnection):
    """A client connection that notes when each message's last frame was read.

    ``recv()`` hands a message over only when the reading coroutine next
    runs; with hundreds of sessions on one event loop that is milliseconds
    after the bytes arrived. These stamps, taken as frames are parsed in
    ``data_received``, are the arrival times a session records.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals: deque[float] = deque()

    def process_event(self, event: ProtocolEvent) -> None:
        if type(event) is Frame and event.fin and event.opcode in DATA_OPCODES:
            self.arrivals.append(perf_counter())
        super().process_event(event)


def _with_query(url: str, extra: list[tuple[str, str]]) -> str:
    if not extra:
        return url
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *extra]
    return urlunsplit(parts._replace(query=urlencode(query)))


def connect_for(profile: Profile, url: str, mode: AuthMode, fill: Callable[[str], str]) -> connect:
    """A websockets ``connect`` for one session of ``profile`` authenticating by ``mode``.

    No keepalive pings unless the profile asks (sessions are short), no forward
    proxy from the environment (a probe measures the target, not a proxy it
    happened to inherit), no compression (measured: it costs client CPU for
    nothing on messages this small), and no open timeout: callers bound the
    whole session. ``fill`` fills a template with this session's values.
    """
    auth, conn = profile.auth, profile.connect
    headers = {name: fill(value) for name, value in conn.headers}
    if mode == "header":
        headers[auth.header] = fill(auth.header_value)
    protocols = [Subprotocol(fill(p)) for p in conn.subprotocols]
    if mode == "subprotocol":
        protocols.append(Subprotocol(fill(auth.subprotocol)))
    query = [(name, fill(value)) for name, value in conn.query]
    if mode == "query":
        query.append((auth.query_param, fill("{token}")))
    interval = profile.heartbeat.ws_ping_interval_s
    return connect(
        _with_query(url, query),
        additional_headers=headers or None,
        subprotocols=protocols or None,
        compression=None,
        proxy=None,
        open_timeout=None,
        ping_interval=interval,
        ping_timeout=interval,
        close_timeout=CLOSE_GRACE_S,
        create_connection=StampedConnection,
    )


def line(text: object, limit: int = 160) -> str:
    """``text`` on one line, at most ``limit`` characters (for a record's error)."""
    return " ".join(str(text).split())[:limit]


def classify(
    exc: BaseException,
    *,
    connected: bool,
    timeout_s: float,
    clean: Callable[[str], str] = str,
) -> Failure | None:
    """The one mapping from a library exception to a failure reason (None: not a failure).

    ``clean`` (the session's redaction) runs on each text before it is shortened.
    """
    if isinstance(exc, InvalidStatus):
        body = exc.response.body.decode("utf-8", "replace") if exc.response.body else ""
        return Failure("refused", line(clean(f"HTTP {exc.response.status_code} {body}")))
    if isinstance(exc, TimeoutError):
        stage = "the run" if connected else "the handshake"
        return Failure("timeout", f"{stage} did not finish within {timeout_s:g} s")
    if isinstance(exc, ConnectionClosedOK):
        return None  # a normal close; the verdict tells whether the run was complete
    if isinstance(exc, ConnectionClosed):
        code = exc.rcvd.code if exc.rcvd else ABNORMAL_CLOSE
        reason = f" ({exc.rcvd.reason})" if exc.rcvd and exc.rcvd.reason else ""
        kind: Reason = "planned_close" if code in PLANNED_CLOSES else "closed_abnormally"
        return Failure(kind, line(clean(f"closed with {code}{reason}")))
    if isinstance(exc, NegotiationError):  # e.g. a subprotocol that was not offered
        return Failure("protocol_error", line(clean(f"handshake: {exc}")))
    if isinstance(exc, ValueError) and connected:  # json.JSONDecodeError, UnicodeDecodeError
        return Failure("protocol_error", line(clean(f"frame is not JSON: {exc}")))
    if isinstance(exc, ValueError):  # an unparsable target URL
        return Failure("connect_error", line(clean(f"invalid target: {exc}")))
    if isinstance(exc, WebSocketException | OSError):
        return Failure("connect_error", line(clean(f"{type(exc).__name__}: {exc}")))
    return None


def connect_as(
    target: str, token: str, auth_mode: AuthMode, profile: Profile, *, user_id: str = ""
) -> connect:
    """``connect_for`` with the token's placeholders and ``{user_id}`` (for the bad-token
    and DB checks)."""
    values = {"token": token, "token_b64url": token_b64url(token), "user_id": user_id}
    return connect_for(profile, target, auth_mode, lambda text: fill(text, values))
