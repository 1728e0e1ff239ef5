"""One user's session against any server that speaks PROTOCOL.md -> a ``SessionResult``.

Connect with a token, send one ``chat``, read until this user's run ends or
the timeout, close 1000, and describe what happened. No database, no
printing, no judging of objectives, and never an exception for a target
problem: a down target is a failed record. The findings on the messages are
``probes.judging.checks``'s; mapping library exceptions to reasons is ``classify``'s.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter
from typing import Any, cast
from uuid import uuid4

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidStatus,
    WebSocketException,
)
from websockets.frames import DATA_OPCODES, Frame
from websockets.protocol import Event as ProtocolEvent
from websockets.typing import Subprotocol

from probes.judging import checks
from probes.judging.checks import Failure
from probes.records import (
    ABNORMAL_CLOSE,
    NORMAL_CLOSE,
    PLANNED_CLOSES,
    AuthMode,
    Reason,
    SessionResult,
)
from probes.round_timing import CLOSE_GRACE_S

SUBPROTOCOL = "agent-chat.v1"
# Errors a target (or its URL) can cause; anything else is a bug here and is raised.
TARGET_ERRORS = (OSError, WebSocketException, ValueError)  # TimeoutError is an OSError


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """What one session does: who connects where, how it authenticates, what it asks.

    No defaults: the message, the events and the timeout are the probe's
    settings (``probes.config``), passed in by ``probes.target.round``.
    """

    run_id: str
    probe: str
    target: str
    runner: str
    user_id: str
    token: str
    auth_mode: AuthMode
    message: str
    expected_events: tuple[str, ...]
    timeout_s: float  # connect + run; the close may take CLOSE_GRACE_S more


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


def connect_as(target: str, token: str, auth_mode: AuthMode) -> connect:
    """A websockets ``connect`` presenting ``token`` the way ``auth_mode`` says.

    No keepalive pings (sessions are short), no forward proxy from the
    environment (a probe measures the target, not a proxy it happened to
    inherit), no compression (measured: it costs client CPU for nothing on
    messages this small), and no open timeout: callers bound the whole session.
    """
    headers = {"Authorization": f"Bearer {token}"} if auth_mode == "header" else None
    protocols = [Subprotocol(SUBPROTOCOL)]
    if auth_mode == "subprotocol":
        protocols.append(Subprotocol(f"bearer.{token}"))
    return connect(
        target,
        additional_headers=headers,
        subprotocols=protocols,
        compression=None,
        proxy=None,
        open_timeout=None,
        ping_interval=None,
        close_timeout=CLOSE_GRACE_S,
        create_connection=StampedConnection,
    )


def _line(text: object, limit: int = 160) -> str:
    return " ".join(str(text).split())[:limit]


def classify(exc: BaseException, *, connected: bool, timeout_s: float) -> Failure | None:
    """The one mapping from a library exception to a failure reason (None: not a failure)."""
    if isinstance(exc, InvalidStatus):
        body = exc.response.body.decode("utf-8", "replace") if exc.response.body else ""
        return Failure("refused", _line(f"HTTP {exc.response.status_code} {body}"))
    if isinstance(exc, TimeoutError):
        stage = "the run" if connected else "the handshake"
        return Failure("timeout", f"{stage} did not finish within {timeout_s:g} s")
    if isinstance(exc, ConnectionClosedOK):
        return None  # a normal close; the findings tell whether the run was complete
    if isinstance(exc, ConnectionClosed):
        code = exc.rcvd.code if exc.rcvd else ABNORMAL_CLOSE
        reason = f" ({exc.rcvd.reason})" if exc.rcvd and exc.rcvd.reason else ""
        kind: Reason = "planned_close" if code in PLANNED_CLOSES else "closed_abnormally"
        return Failure(kind, _line(f"closed with {code}{reason}"))
    if isinstance(exc, ValueError) and connected:  # json.JSONDecodeError, UnicodeDecodeError
        return Failure("protocol_error", _line(f"frame is not JSON: {exc}"))
    if isinstance(exc, ValueError):  # an unparsable target URL
        return Failure("connect_error", _line(f"invalid target: {exc}"))
    if isinstance(exc, WebSocketException | OSError):
        return Failure("connect_error", _line(f"{type(exc).__name__}: {exc}"))
    return None


def _note(failures: list[Failure], failure: Failure | None) -> None:
    if failure is not None:
        failures.append(failure)


async def _read(
    ws: StampedConnection,
    spec: SessionSpec,
    chat_ref: str,
    received: list[tuple[float, Any]],
    failures: list[Failure],
) -> None:
    """Append (perf_counter, decoded message) until the run ends or is refused; the hot path."""
    recv, loads, is_end, arrivals = ws.recv, json.loads, checks.ends_session, ws.arrivals
    user_id, last = spec.user_id, spec.expected_events[-1]
    while True:
        raw = await recv()
        at = arrivals.popleft() if arrivals else perf_counter()
        if type(raw) is not str:
            failures.append(Failure("protocol_error", "binary frame (v1 is text only)"))
            continue
        try:
            message = loads(raw)
        except ValueError as exc:
            _note(failures, classify(exc, connected=True, timeout_s=spec.timeout_s))
            continue
        received.append((at, message))
        if is_end(message, user_id, chat_ref, last):
            return


async def _close(
    ws: ClientConnection | None, deadline: float
) -> tuple[int | None, str, int | None]:
    """Close 1000 (a no-op when already closed): received code, reason, and sent code.

    A busy server may take a while to answer the close; it gets until the
    session's deadline (at least ``CLOSE_GRACE_S``) before the socket is dropped.
    """
    if ws is None:
        return None, "", None
    ws.close_timeout = max(CLOSE_GRACE_S, deadline - perf_counter())
    await ws.close(NORMAL_CLOSE)
    sent = ws.protocol.close_sent
    return ws.close_code, ws.close_reason or "", sent.code if sent else None


def _ms(start: float, at: float | None) -> float | None:
    return None if at is None else (at - start) * 1000.0


async def run_session(spec: SessionSpec) -> SessionResult:
    """Run one session and describe it; never raises for a target problem."""
    started_at = datetime.now(UTC)
    t0 = perf_counter()
    chat_ref = uuid4().hex
    received: list[tuple[float, Any]] = []
    failures: list[Failure] = []
    ws: StampedConnection | None = None
    connected_at = sent_at = None
    http_status = None
    try:
        async with asyncio.timeout(spec.timeout_s):
            ws = cast(StampedConnection, await connect_as(spec.target, spec.token, spec.auth_mode))
            connected_at = perf_counter()
            chat = json.dumps({"type": "chat", "id": chat_ref, "text": spec.message})
            sent_at = perf_counter()
            await ws.send(chat)
            await _read(ws, spec, chat_ref, received, failures)
    except TARGET_ERRORS as exc:
        _note(failures, classify(exc, connected=ws is not None, timeout_s=spec.timeout_s))
        http_status = exc.response.status_code if isinstance(exc, InvalidStatus) else None
    except BaseException:  # cancelled (or a bug): drop the socket rather than leak it
        if ws is not None:
            ws.transport.abort()
        raise
    close_code, close_reason, sent_code = await _close(ws, t0 + spec.timeout_s)
    ended_at = perf_counter()
    findings = checks.assess(
        [((at - t0) * 1000.0, m) for at, m in received],
        user_id=spec.user_id,
        chat_ref=chat_ref,
        expected=spec.expected_events,
    )
    outcome, reason, error = checks.judge(
        findings, failures=failures, close_code=close_code, close_reason=close_reason
    )
    sent_ms = _ms(t0, sent_at)
    return SessionResult(
        run_id=spec.run_id,
        probe=spec.probe,
        target=spec.target,
        runner=spec.runner,
        user_id=spec.user_id,
        auth_mode=spec.auth_mode,
        started_at=started_at,
        connect_ms=_ms(t0, connected_at),
        first_event_ms=_since(findings.first_ms, sent_ms),
        completion_ms=_since(findings.completed_ms, sent_ms),
        total_ms=_ms(t0, ended_at),
        close_code=close_code,
        close_reason=close_reason,
        sent_close_code=sent_code,
        http_status=http_status,
        events=findings.events,
        missing_events=findings.missing_events,
        order_ok=findings.order_ok,
        seq_gaps=findings.seq_gaps,
        foreign_events=findings.foreign_events,
        agent_run_id=findings.agent_run_id,
        db_ms=findings.db_ms,
        outcome=outcome,
        reason=reason,
        error=error,
    )


def _since(ms: float | None, start_ms: float | None) -> float | None:
    return None if ms is None or start_ms is None else ms - start_ms
