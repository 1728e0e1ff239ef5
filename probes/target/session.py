"""One user's session, driven by a protocol profile -> a ``SessionResult``.

Connect and authenticate as the profile says, run its handshake steps, send
its chat frames, read until this chat's run is done (or a fatal error, a
refusal, the timeout), close, and describe what happened. No database, no
printing, no judging of objectives, and never an exception for a target
problem: a down target is a failed record. Frames are read by the profile's
codec (``frames``, ``socketio``); the stream is judged by
``probes.judging.stream``; exceptions are mapped to reasons by
``connection.classify``. No token or secret reaches the record: every text
from the target is redacted first.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from time import perf_counter
from typing import cast
from uuid import uuid4

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from probes.judging import checks, stream
from probes.judging.findings import Failure
from probes.profiles.model import Profile
from probes.profiles.registry import DEFAULT_PROFILE, builtin
from probes.profiles.templates import fill, message_values, token_b64url
from probes.records import AuthMode, SessionResult
from probes.round_timing import CLOSE_GRACE_S
from probes.target.connection import (
    TARGET_ERRORS,
    StampedConnection,
    classify,
    connect_for,
    line,
)
from probes.target.frames import Codec, JsonCodec
from probes.target.reading import NONCE_PREFIX, Plan, Reader, plan_for
from probes.target.redaction import Secrets, redact
from probes.target.socketio import SocketIoCodec
from probes.target.trace import Trace

__all__ = ["CLOSE_GRACE_S", "TARGET_ERRORS", "SessionSpec", "classify", "new_nonce", "run_session"]


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """What one session does: who connects where, how it authenticates, what it asks.

    The message, the events and the timeout are the probe's settings
    (``probes.config``), passed in by ``probes.target.round``; ``expected_events``
    (when not empty) replaces the profile's ``completion.required``.
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
    profile: Profile = field(default_factory=lambda: builtin(DEFAULT_PROFILE))
    nonce: str = ""  # this user's canary for the round (profiles with isolation.canary)
    trace: Trace | None = field(default=None, compare=False)


def new_nonce() -> str:
    """A canary nonce: recognisable in any stream, never guessable across users."""
    return NONCE_PREFIX + secrets.token_hex(8)


def codec_for(profile: Profile) -> Codec:
    """A fresh codec for one session of ``profile``."""
    if profile.frame == "socketio":
        return SocketIoCodec()
    return JsonCodec("v1 is text only" if profile.name == DEFAULT_PROFILE else "json is text only")


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
    await ws.close(1000)
    sent = ws.protocol.close_sent
    return ws.close_code, ws.close_reason or "", sent.code if sent else None


def _ms(start: float, at: float | None) -> float | None:
    return None if at is None else (at - start) * 1000.0


def _since(ms: float | None, start_ms: float | None) -> float | None:
    return None if ms is None or start_ms is None else ms - start_ms


async def _converse(reader: Reader, plan: Plan, spec: SessionSpec) -> None:
    """After the upgrade: the auth message, the handshake steps, the chat, and the reading."""
    profile = spec.profile
    expected = profile.connect.expect_subprotocol
    if expected and reader.ws.subprotocol != expected:
        got = reader.ws.subprotocol
        reader.fail(
            "protocol_error",
            f"server selected subprotocol {got!r}, expected {expected!r}",
            decisive=True,
        )
        return
    if spec.auth_mode == "message":
        await reader.send(profile.auth.message)
    for index, step in enumerate(profile.handshake):
        if not await reader.step(index, step, plan.steps[index]):
            return
    reader.sent_at = perf_counter()
    for frame in profile.chat.send:
        await reader.send(frame)
    await reader.read(plan.run)


async def run_session(spec: SessionSpec) -> SessionResult:
    """Run one session and describe it; never raises for a target problem."""
    started_at = datetime.now(UTC)
    t0 = perf_counter()
    profile = spec.profile
    plan = plan_for(profile)
    request_id = uuid4().hex
    values = {
        "token": spec.token, "user_id": spec.user_id, "request_id": request_id,
        "nonce": spec.nonce, **message_values(spec.message),
    }  # fmt: skip
    if plan.uses_b64:
        values["token_b64url"] = token_b64url(spec.token)
    hidden = Secrets(spec.token)
    codec = codec_for(profile)
    reader = Reader(profile, plan, codec, values, hidden=hidden, nonce=spec.nonce, trace=spec.trace)
    if spec.trace is not None:
        spec.trace.bind(stream.rules_for(profile, spec.expected_events), hidden)
    ws: StampedConnection | None = None
    connected_at = None
    http_status = None
    try:
        async with asyncio.timeout(spec.timeout_s):
            url = codec.url(spec.target)
            fill_one = lambda text: fill(text, values)  # noqa: E731 - the connect's one filler
            ws = cast(StampedConnection, await connect_for(profile, url, spec.auth_mode, fill_one))
            connected_at = perf_counter()
            reader.attach(ws)
            await _converse(reader, plan, spec)
    except TARGET_ERRORS as exc:
        failure = classify(
            exc, connected=ws is not None, timeout_s=spec.timeout_s,
            clean=lambda text: redact(text, hidden),
        )  # fmt: skip
        if failure is not None:
            reader.failures.append(failure)
        http_status = exc.response.status_code if isinstance(exc, InvalidStatus) else None
    except BaseException:  # cancelled (or a bug): drop the socket rather than leak it
        if ws is not None:
            ws.transport.abort()
        raise
    close_code, close_reason, sent_code = await _close(ws, t0 + spec.timeout_s)
    return _record(
        spec,
        reader,
        request_id,
        t0,
        started_at,
        (connected_at, reader.sent_at),
        (close_code, redact(close_reason, hidden), sent_code),
        http_status,
    )


def _record(
    spec: SessionSpec,
    reader: Reader,
    request_id: str,
    t0: float,
    started_at: datetime,
    times: tuple[float | None, float | None],
    close: tuple[int | None, str, int | None],
    http_status: int | None,
) -> SessionResult:
    """Judge what the session saw and build its record (texts already redacted)."""
    connected_at, sent_at = times
    close_code, close_reason, sent_code = close
    profile = spec.profile
    failures = reader.failures
    if close_code in profile.auth.refused_close:
        detail = f"closed with {close_code}" + (f" ({close_reason})" if close_reason else "")
        failures.insert(0, Failure("refused", line(detail)))
    sent_ms = _ms(t0, sent_at)
    findings = stream.assess(
        [((at - t0) * 1000.0, m) for at, m in reader.received],
        stream.rules_for(profile, spec.expected_events),
        user_id=spec.user_id,
        request_id=request_id,
        sent_ms=sent_ms if sent_ms is not None else float("inf"),
        canary_foreign=reader.canary_foreign,
    )
    outcome, reason, error = checks.judge(
        findings, failures=failures, close_code=close_code, close_reason=close_reason,
        normal=profile.close.normal,
    )  # fmt: skip
    result = SessionResult(
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
        total_ms=_since(findings.completed_ms, sent_ms),  # PROFILES.md: = completion
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
        error=redact(error, reader.hidden),
        profile=profile.name,
    )
    if spec.trace is not None:
        spec.trace.record(result)
    return result
