"""The one failure reason of a session, and agent-chat v1's stream findings.

``judge`` is the one place that decides a session's outcome, picks the
failure reason (the first applicable in ``records.REASONS``, except that an
``error`` milestone the server sent explains a run better than what followed
from it) and writes the one-line error. The stream itself is judged by
``probes.judging.stream`` as a profile reads it; ``assess`` here is that
judgement under the built-in ``agent-chat-v1`` profile (PROTOCOL.md), with
the probe's list of expected events.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, cast

from probes.config import DEFAULT_EVENTS
from probes.judging import stream
from probes.judging.findings import Failure, Received, StreamFindings, seq_gaps
from probes.profiles.registry import DEFAULT_PROFILE, builtin
from probes.records import NORMAL_CLOSE, PLANNED_CLOSES, REASONS, Outcome, Reason

__all__ = ["Failure", "Received", "StreamFindings", "assess", "judge", "seq_gaps", "tools_paired"]
# A server's own error event outranks what followed from it (a missing done, a timeout).
SERVER_ERROR_FIRST: tuple[str, ...] = (
    "refused",
    "connect_error",
    "protocol_error",
    *(r for r in REASONS if r not in ("refused", "connect_error", "protocol_error")),
)


def tools_paired(own: Sequence[Mapping[str, Any]]) -> bool:
    """Every ``tool_executing`` is followed by a ``tool_completed`` for the same tool."""
    rules = stream.rules_for(builtin(DEFAULT_PROFILE))
    return stream.tools_paired([(str(m.get("type")), m) for m in own], rules)


def assess(
    received: Sequence[Received],
    *,
    user_id: str,
    chat_ref: str,
    expected: Sequence[str] = DEFAULT_EVENTS,
) -> StreamFindings:
    """Judge the messages of one agent-chat v1 session for ``user_id``'s chat ``chat_ref``."""
    rules = stream.rules_for(builtin(DEFAULT_PROFILE), tuple(expected))
    return stream.assess(received, rules, user_id=user_id, request_id=chat_ref)


def _candidates(
    findings: StreamFindings,
    failures: Sequence[Failure],
    close_code: int | None,
    close_reason: str,
    normal: Collection[int],
) -> dict[str, str]:
    """Every reason that applies, with its one-line detail (the first seen per reason)."""
    found: dict[str, str] = {}
    for failure in failures:
        found.setdefault(failure.reason, failure.detail)
    if close_code not in normal:
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
    if findings.error_events:
        found.setdefault("protocol_error", "server error " + "; ".join(findings.error_events))
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
    normal: Collection[int] = (NORMAL_CLOSE,),
) -> tuple[Outcome, Reason | None, str]:
    """The outcome, the failure reason (first applicable in ``REASONS`` order) and a
    one-line error.

    ``failures`` are what the session saw beside the messages (the exception
    that ended it, frames that were not JSON). ``("ok", None, "")`` only when
    the session closed 1000, completely, in order, isolated, with no failure.
    """
    found = _candidates(findings, failures, close_code, close_reason, normal)
    decisive = next((f for f in failures if f.decisive), None)
    if decisive is not None and "refused" not in found and "connect_error" not in found:
        return "failed", decisive.reason, f"{decisive.reason}: {decisive.detail}"
    for reason in SERVER_ERROR_FIRST if findings.error_events else REASONS:
        if reason in found:
            return "failed", cast(Reason, reason), f"{reason}: {found[reason]}"
    return "ok", None, ""
