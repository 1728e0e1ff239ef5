"""Rounds and sessions as the Live page shows them: latest rounds, failing sessions, one round.

The store's rows in, DataFrames with named columns out (``ROUND_COLUMNS``,
``FAILING_COLUMNS``, ``SESSION_COLUMNS`` ...), failing things first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from dashboard.format import close_code_label
from probes.judging.texts import without_reason
from probes.records import Filters, RoundResult, SessionResult
from probes.results import ResultStore

LATEST_ROUNDS = 50
FAILING_FIRST = {"failed": 0, "error": 1, "skipped": 2, "passed": 3}
FAILING_COLUMNS = [
    "started_at", "user_id", "auth_mode", "reason", "close", "missing_events", "error", "probe",
    "target", "runner", "run_id",
]  # fmt: skip
SESSION_COLUMNS = [
    "user_id", "outcome", "reason", "close", "close_code", "http_status", "missing_events",
    "foreign_events", "order_ok", "seq_gaps", "events", "connect_ms", "first_event_ms",
    "completion_ms", "total_ms", "auth_mode", "error", "close_reason",
]  # fmt: skip
EVENT_COLUMNS = ["user_id", "type", "ms", "seq", "foreign"]
SAMPLE_COLUMNS = ["at", "rss_mb"]
TIMING_COLUMNS = ["operation", "client_ms", "server_ms", "ok", "error"]


@dataclass(frozen=True, slots=True)
class RoundSummary:
    run_id: str
    probe: str
    target: str
    runner: str
    status: str
    started_at: datetime
    finished_at: datetime
    memory_growth_mb: float | None
    auth: str  # "ok", "failed" or "not made"


@dataclass(frozen=True, slots=True)
class RoundDetail:
    """One stored round, flattened for tables and charts."""

    summary: RoundSummary
    sessions: pd.DataFrame  # SESSION_COLUMNS, failed sessions first
    events: pd.DataFrame  # EVENT_COLUMNS
    memory: pd.DataFrame  # SAMPLE_COLUMNS
    db_timings: pd.DataFrame  # TIMING_COLUMNS
    problems: list[str] = field(default_factory=list)


def latest_rounds(
    store: ResultStore, until: datetime, filters: Filters, limit: int = LATEST_ROUNDS
) -> pd.DataFrame:
    """The last ``limit`` rounds, failing ones first (then newest first), with their failures."""
    rows = store.rounds_between(until - timedelta(days=3650), until, filters, limit=limit)
    if not rows:
        return pd.DataFrame(columns=["started_at", "status", "failed", "failures", "run_id"])
    frame = pd.DataFrame(rows)
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
    oldest = frame["started_at"].min().to_pydatetime()
    failing = store.failing_sessions(oldest, until, filters, limit=limit * 100)
    reasons: dict[str, Counter[str]] = {}
    for row in failing:
        reasons.setdefault(row["run_id"], Counter())[row["reason"] or "failed"] += 1
    frame["failures"] = [
        _failures(r, reasons.get(r["run_id"], Counter())) for r in frame.to_dict("records")
    ]
    frame["failed"] = (
        frame["sessions_failed"].astype(int).astype(str)
        + " of "
        + frame["sessions_total"].astype(int).astype(str)
    )
    frame["_order"] = frame["status"].map(FAILING_FIRST).fillna(9)
    frame = frame.sort_values(["_order", "started_at"], ascending=[True, False])
    return frame.drop(columns="_order").reset_index(drop=True)


def _failures(round_row: Mapping[Hashable, Any], reasons: Counter[str]) -> str:
    parts = [f"{reason} x{n}" for reason, n in reasons.most_common()]
    if round_row.get("auth_ok") is False or round_row.get("auth_ok") == 0:
        parts.append(f"bad token not refused ({round_row.get('auth_error') or 'no detail'})")
    if round_row.get("reason"):
        parts.append(str(round_row["reason"]))
    return "; ".join(parts)


def failing_sessions(
    store: ResultStore, since: datetime, until: datetime, filters: Filters, limit: int = 20
) -> pd.DataFrame:
    """The newest failed sessions: who, when, why, with the close code named."""
    rows = store.failing_sessions(since, until, filters, limit=limit)
    if not rows:
        return pd.DataFrame(columns=FAILING_COLUMNS)
    frame = pd.DataFrame(rows)
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
    frame["close"] = [
        close_code_label(c) if pd.isna(h) else f"refused (HTTP {int(h)})"
        for c, h in zip(frame["close_code"].astype(object), frame["http_status"], strict=True)
    ]
    frame["missing_events"] = frame["missing_events"].map(", ".join)
    frame["error"] = [  # the reason is its own column: not repeated at the error's start
        without_reason(r, e or "") for r, e in zip(frame["reason"], frame["error"], strict=True)
    ]
    return frame[FAILING_COLUMNS]


def round_detail(store: ResultStore, run_id: str) -> RoundDetail | None:
    """One round's sessions, events, memory samples and DB timings; None if not stored."""
    r = store.round(run_id)
    if r is None:
        return None
    sessions = pd.DataFrame([_session_row(s) for s in r.sessions], columns=SESSION_COLUMNS)
    if not sessions.empty:
        sessions = (
            sessions.assign(_ok=sessions["outcome"] == "ok")
            .sort_values(["_ok", "user_id"])
            .drop(columns="_ok")
            .reset_index(drop=True)
        )
    events = pd.DataFrame(
        [(s.user_id, e.type, e.ms, e.seq, e.foreign) for s in r.sessions for e in s.events],
        columns=EVENT_COLUMNS,
    )
    memory = pd.DataFrame([(m.at, m.rss_mb) for m in r.memory_samples], columns=SAMPLE_COLUMNS)
    timings = pd.DataFrame(
        [(t.operation, t.client_ms, t.server_ms, t.ok, t.error) for t in r.db_timings],
        columns=TIMING_COLUMNS,
    )
    return RoundDetail(_summary(r), sessions, events, memory, timings, _problems(r))


def _session_row(s: SessionResult) -> tuple[Any, ...]:
    close = (
        close_code_label(s.close_code)
        if s.http_status is None
        else f"refused (HTTP {s.http_status})"
    )
    return (
        s.user_id, s.outcome, s.reason or "", close, s.close_code, s.http_status,
        ", ".join(s.missing_events), s.foreign_events, s.order_ok, s.seq_gaps, len(s.events),
        s.connect_ms, s.first_event_ms, s.completion_ms, s.total_ms, s.auth_mode, s.error,
        s.close_reason,
    )  # fmt: skip


def _problems(r: RoundResult) -> list[str]:
    problems = []
    if r.auth_check is not None and not r.auth_check.ok:
        problems.append(f"bad-token check: {r.auth_check.error or 'not refused with 401'}")
    problems += [f"database {t.operation}: {t.error or 'failed'}" for t in r.db_timings if not t.ok]
    if r.reason:
        problems.append(f"round {r.status}: {r.reason}")
    return problems


def _summary(r: RoundResult) -> RoundSummary:
    auth = "not made" if r.auth_check is None else "ok" if r.auth_check.ok else "failed"
    return RoundSummary(
        r.run_id, r.probe, r.target, r.runner, r.status, r.started_at, r.finished_at,
        r.memory_growth_mb, auth,
    )  # fmt: skip
