"""Records <-> rows: what ``save_round`` inserts and how stored rows become records again."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Row

from probes.export import SESSION_FIELDS
from probes.records import DbTiming, Event, RoundResult, SessionResult
from probes.results.schema import epoch_minute, to_utc

# What an export reads from the sessions table (events come from their own table).
EXPORT_COLUMNS = tuple(k for k in SESSION_FIELDS if k != "events")


def round_row(r: RoundResult) -> dict[str, Any]:
    auth = r.auth_check
    return {
        "run_id": r.run_id,
        "probe": r.probe,
        "target": r.target,
        "runner": r.runner,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "status": r.status,
        "reason": r.reason,
        "memory_baseline_mb": r.memory_baseline_mb,
        "memory_peak_mb": r.memory_peak_mb,
        "memory_after_mb": r.memory_after_mb,
        "memory_growth_mb": r.memory_growth_mb,
        "memory_source": r.memory_source,
        "profile": r.profile,
        "auth_http_status": auth.http_status if auth else None,
        "auth_close_code": auth.close_code if auth else None,
        "auth_ok": auth.ok if auth else None,
        "auth_error": auth.error if auth else None,
        "sessions_total": len(r.sessions),
        "sessions_failed": len(r.failed_sessions),
        "minute": epoch_minute(r.started_at),
    }


# The SessionResult fields stored one column each, as they are (the rest: session_row).
RECORD_COLUMNS = (
    "run_id", "probe", "target", "runner", "user_id", "auth_mode", "started_at",
    "connect_ms", "first_event_ms", "completion_ms", "total_ms", "close_code",
    "close_reason", "sent_close_code", "http_status", "order_ok", "seq_gaps",
    "foreign_events", "agent_run_id", "outcome", "reason", "error", "profile",
)  # fmt: skip


def session_row(s: SessionResult) -> dict[str, Any]:
    if any("," in name for name in s.missing_events):
        raise ValueError(f"event type with a comma in {s.missing_events!r}")
    row = {name: getattr(s, name) for name in RECORD_COLUMNS}
    row["missing_events"] = ",".join(s.missing_events)
    row["db_ms"] = json.dumps(s.db_ms)
    row["complete"] = s.complete
    row["minute"] = epoch_minute(s.started_at)
    return row


def session_record(row: Row[Any], events: list[Event]) -> SessionResult:
    values = {name: getattr(row, name) for name in RECORD_COLUMNS}
    return SessionResult(
        **values,
        events=tuple(events),
        missing_events=tuple(split(row.missing_events)),
        db_ms=json.loads(row.db_ms),
    )


def event_row(session_id: int, position: int, e: Event) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "position": position,
        "type": e.type,
        "ms": e.ms,
        "seq": e.seq,
        "server_ts": e.server_ts,
        "foreign": e.foreign,
    }


def timing_row(r: RoundResult, t: DbTiming) -> dict[str, Any]:
    return {
        "run_id": r.run_id,
        "started_at": r.started_at,
        "minute": epoch_minute(r.started_at),
        "operation": t.operation,
        "client_ms": t.client_ms,
        "server_ms": t.server_ms,
        "ok": t.ok,
        "error": t.error,
    }


# Where export_row puts what it converts, in the export columns and in SESSION_FIELDS.
_STARTED, _MISSING = EXPORT_COLUMNS.index("started_at"), EXPORT_COLUMNS.index("missing_events")
_EVENTS = SESSION_FIELDS.index("events")


def export_row(row: Sequence[Any], types: list[str]) -> dict[str, Any]:
    """``row`` is the export columns (``started_at`` as ``schema.as_stored`` reads it), in
    ``SESSION_FIELDS`` order but events; ``types`` the session's event types."""
    values = list(row)
    values[_STARTED] = iso_of(values[_STARTED])
    values[_MISSING] = split(values[_MISSING])
    values.insert(_EVENTS, types)
    return dict(zip(SESSION_FIELDS, values, strict=True))


def iso(value: datetime) -> str:
    return to_utc(value).isoformat(timespec="microseconds").replace("+00:00", "Z")


def iso_of(value: str | datetime | None) -> str | None:
    """A ``schema.as_stored`` time as ``iso`` writes it (None stays None).

    SQLite's text (SQLAlchemy's format, naive UTC: ``2026-01-05 10:00:00.000000``) is
    rewritten as text, without a datetime: a year of rounds has ~500,000 such cells.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return iso(value)
    if len(value) == 26 and value[10] == " " and value[19] == ".":
        return f"{value[:10]}T{value[11:]}Z"
    parsed = datetime.fromisoformat(value)  # text of another form: read it whole
    return iso(parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC))


def split(joined: str) -> list[str]:
    return joined.split(",") if joined else []
