"""Pure checks of one session: is the event stream complete, in order, isolated?

No I/O and no clock: ``assess`` takes the decoded server messages of one
session, each with the client ms it arrived at; ``judge`` is the one place
that decides the outcome, picks the failure reason (the first applicable in
``records.REASONS``) and writes the one-line error. Both are called by
``probes.target.session`` and tested with tables of cases.

Whose events are whose: the session's *own run* is the run of the first
message that carries this user's ``user_id`` and the chat's ``ref``. A
message is *foreign* when it carries another ``user_id``, or a ``run_id`` or
``thread_id`` that differs from the own run's (a message without those fields,
such as an ``error`` reply, is neither own nor foreign). Completeness and
order are judged on the own run's events only. Beyond the protocol's list,
the first and last expected events must each come exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, cast

from probes.config import DEFAULT_EVENTS
from probes.records import NORMAL_CLOSE, PLANNED_CLOSES, REASONS, Event, Outcome, Reason

# (client ms since the session started connecting, the decoded JSON value)
Received = tuple[float, Any]

TOOL_START = "tool_executing"
TOOL_END = "tool_completed"
RUN_END = "agent_completed"


@dataclass(frozen=True, slots=True)
class StreamFindings:
    """What the messages of one session show, before any transport failure is known."""

    events: tuple[Event, ...] = ()
    missing_events: tuple[str, ...] = ()
    order_ok: bool = False
    seq_gaps: int = 0  # runs of seq numbers missing below the highest seq seen
    foreign_events: int = 0
    foreign_users: tuple[str, ...] = ()  # whose events they were (user ids, first seen first)
    malformed: int = 0  # JSON values that are not an object with a string "type"
    agent_run_id: str | None = None
    db_ms: dict[str, float] = field(default_factory=dict)
    first_ms: float | None = None  # the own run's first event
    completed_ms: float | None = None  # the own run's last expected event
    server_errors: tuple[str, ...] = ()  # "code: message" of error replies

    @property
    def in_order(self) -> bool:
        return self.order_ok and self.seq_gaps == 0


@dataclass(frozen=True, slots=True)
class Failure:
    """A failure seen beside the messages, as ``probes.target.session.classify`` mapped it."""

    reason: Reason
    detail: str


def ends_session(message: Any, user_id: str, chat_ref: str, last_type: str) -> bool:
    """True when the session can stop reading: this user's run for this chat sent its
    ``last_type`` event, or the server answered the chat with an ``error``."""
    if type(message) is not dict or message.get("ref") != chat_ref:
        return False
    kind = message.get("type")
    return kind == "error" or (kind == last_type and message.get("user_id") == user_id)


def _own_run(objects: Sequence[tuple[float, dict[str, Any]]], user_id: str, chat_ref: str) -> Any:
    """The run id and thread id of the first message of this user's run for this chat."""
    for _, m in objects:
        if m.get("user_id") == user_id and m.get("ref") == chat_ref and m.get("run_id") is not None:
            return m["run_id"], m.get("thread_id")
    return None, None


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def _float(value: Any) -> float | None:
    return float(value) if type(value) in (int, float) else None


def seq_gaps(seqs: Sequence[int]) -> int:
    """Runs of numbers missing from 1..max(seqs): ``1, 2, 5`` has one gap, ``2, 4`` two."""
    seen = set(seqs)
    gaps, in_gap = 0, False
    for n in range(1, max(seen, default=0) + 1):
        missing = n not in seen
        gaps += missing and not in_gap
        in_gap = missing
    return gaps


def tools_paired(own: Sequence[Mapping[str, Any]]) -> bool:
    """Every ``tool_executing`` is followed by a ``tool_completed`` for the same tool."""
    pending: list[Any] = []
    for m in own:
        kind = m.get("type")
        if kind == TOOL_START:
            pending.append(m.get("tool"))
        elif kind == TOOL_END:
            if m.get("tool") not in pending:
                return False
            pending.remove(m.get("tool"))
    return not pending


def order_ok(own: Sequence[Mapping[str, Any]], expected: Sequence[str]) -> bool:
    """First and last exactly once at their ends, every middle type present, tools paired,
    ``seq`` strictly increasing."""
    types = [m.get("type") for m in own]
    if not types or types[0] != expected[0] or types[-1] != expected[-1]:
        return False
    if types.count(expected[0]) != 1 or types.count(expected[-1]) != 1:
        return False
    if any(t not in types for t in expected[1:-1]) or not tools_paired(own):
        return False
    seqs = [s for m in own if (s := _int(m.get("seq"))) is not None]
    return len(seqs) == len(own) and all(a < b for a, b in pairwise(seqs))


def _db_ms(message: Mapping[str, Any] | None) -> dict[str, float]:
    raw = message.get("db_ms") if message else None
    if not isinstance(raw, dict):
        return {}
    return {str(k): v for k, x in raw.items() if (v := _float(x)) is not None}


def assess(
    received: Sequence[Received],
    *,
    user_id: str,
    chat_ref: str,
    expected: Sequence[str] = DEFAULT_EVENTS,
) -> StreamFindings:
    """Judge the messages of one session (arrival order) for ``user_id``'s chat ``chat_ref``."""
    objects = [(ms, m) for ms, m in received if type(m) is dict and type(m.get("type")) is str]
    run_id, thread_id = _own_run(objects, user_id, chat_ref)
    events: list[Event] = []
    own: list[tuple[float, dict[str, Any]]] = []
    errors: list[str] = []
    strangers: list[str] = []
    for ms, m in objects:  # one pass, few calls: this runs once per session at full load
        kind, uid, rid, tid = m["type"], m.get("user_id"), m.get("run_id"), m.get("thread_id")
        foreign = (
            (uid is not None and uid != user_id)
            or (rid is not None and run_id is not None and rid != run_id)
            or (tid is not None and thread_id is not None and tid != thread_id)
        )
        seq, ts = m.get("seq"), m.get("ts")
        seq = seq if type(seq) is int else None
        ts = float(ts) if type(ts) is float or type(ts) is int else None
        events.append(Event(kind, ms, seq, ts, foreign))
        if foreign and uid is not None and uid != user_id and str(uid) not in strangers:
            strangers.append(str(uid))
        if not foreign and rid is not None and rid == run_id:
            own.append((ms, m))
        elif kind == "error":
            errors.append(f"{m.get('code', '?')}: {m.get('message', '')}")
    own_messages = [m for _, m in own]
    types = {m["type"] for m in own_messages}
    last = expected[-1]
    return StreamFindings(
        events=tuple(events),
        missing_events=tuple(t for t in dict.fromkeys(expected) if t not in types),
        order_ok=order_ok(own_messages, expected),
        seq_gaps=seq_gaps([s for _, m in own if type(s := m.get("seq")) is int]),
        foreign_events=sum(e.foreign for e in events),
        foreign_users=tuple(strangers),
        malformed=len(received) - len(objects),
        agent_run_id=None if run_id is None else str(run_id),
        db_ms=_db_ms(next((m for m in own_messages if m["type"] == RUN_END), None)),
        first_ms=own[0][0] if own else None,
        completed_ms=next((ms for ms, m in own if m["type"] == last), None),
        server_errors=tuple(errors),
    )


def _candidates(
    findings: StreamFindings, failures: Sequence[Failure], close_code: int | None, close_reason: str
) -> dict[str, str]:
    """Every reason that applies, with its one-line detail (the first seen per reason)."""
    found: dict[str, str] = {}
    for failure in failures:
        found.setdefault(failure.reason, failure.detail)
    if close_code != NORMAL_CLOSE:
        text = "no close code" if close_code is None else f"closed with {close_code}"
        kind = "planned_close" if close_code in PLANNED_CLOSES else "closed_abnormally"
        found.setdefault(kind, text + (f" ({close_reason})" if close_reason else ""))
    if findings.foreign_events:
        count = findings.foreign_events
        whose = ", ".join(findings.foreign_users[:3])
        more = " and others" if len(findings.foreign_users) > 3 else ""
        source = f" (from {whose}{more})" if whose else ""
        found["isolation_breach"] = f"{count} event(s) of another user, thread or run{source}"
    if findings.missing_events:
        text = "missing " + ", ".join(findings.missing_events)
        if findings.server_errors:
            text += "; server said " + "; ".join(findings.server_errors)
        found["incomplete"] = text
    if not findings.in_order:
        parts = [] if findings.order_ok else ["events out of protocol order"]
        parts += [f"{findings.seq_gaps} seq gap(s)"] if findings.seq_gaps else []
        found["out_of_order"] = "; ".join(parts)
    if findings.malformed:
        found.setdefault(
            "protocol_error", f"{findings.malformed} message(s) not an object with a type"
        )
    return found


def judge(
    findings: StreamFindings,
    *,
    failures: Sequence[Failure] = (),
    close_code: int | None,
    close_reason: str = "",
) -> tuple[Outcome, Reason | None, str]:
    """The outcome, the failure reason (first applicable in ``REASONS`` order) and a
    one-line error.

    ``failures`` are what the session saw beside the messages (the exception
    that ended it, frames that were not JSON). ``("ok", None, "")`` only when
    the session closed 1000, completely, in order, isolated, with no failure.
    """
    found = _candidates(findings, failures, close_code, close_reason)
    for reason in REASONS:
        if reason in found:
            return "failed", cast(Reason, reason), f"{reason}: {found[reason]}"
    return "ok", None, ""
