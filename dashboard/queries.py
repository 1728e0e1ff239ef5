"""The dashboard's reads: DataFrames from ``probes.results``, cached with a short TTL.

No SQL here: the aggregation happens in the store. Every function takes the
store URL (and the settings when the answer depends on them) so the cache key
says exactly what was asked; ``until`` is rounded up by ``window_end`` so
that the pages of one refresh interval share one cached answer. Shared by all
browser sessions of the process (``st.cache_data`` is global).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pandas as pd
import streamlit as st

from dashboard.format import alert_summary, close_code_label
from probes.config import Settings, SloSettings
from probes.judging.verdict import evaluate_window
from probes.records import Annotation, Filters
from probes.results import DATABASE_ERRORS, ResultStore, sqlite_file

LIVE_TTL_S = 5.0  # failing sessions and latest rounds: as fresh as the live refresh
# Judging objectives over 30-day windows and aggregating a range are the heavy reads
# (see docs/benchmarks.md): their window ends on whole minutes, cached for two.
STEP_S = 60.0
HEAVY_TTL_S = 120.0
LATEST_ROUNDS = 50
# Above this many rounds in a range, memory is drawn per time bucket (its worst round).
MEMORY_POINTS = 2000
BUCKETS_S = (60, 300, 900, 1800, 3600, 3 * 3600, 4 * 3600, 6 * 3600, 12 * 3600, 86400)
MAX_POINTS = 200
FAILING_FIRST = {"failed": 0, "error": 1, "skipped": 2, "passed": 3}

StoreState = Literal["ready", "empty", "missing", "unreachable"]


@dataclass(frozen=True, slots=True)
class StoreStatus:
    state: StoreState
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Objectives:
    """Every objective over one window (one row each) and the overall verdict."""

    frame: pd.DataFrame
    verdict: str
    reason: str
    rounds: dict[str, int]


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
    sessions: pd.DataFrame
    events: pd.DataFrame
    memory: pd.DataFrame
    db_timings: pd.DataFrame
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Labels:
    probes: list[str]
    targets: list[str]
    runners: list[str]


def window_end(step_s: float, now: datetime | None = None) -> datetime:
    """``now`` rounded up to a multiple of ``step_s``, so one interval shares cached answers."""
    now = now or datetime.now(UTC)
    step = max(1, math.ceil(step_s))
    epoch = math.ceil(now.timestamp() / step) * step
    return datetime.fromtimestamp(epoch, UTC)


def bucket_for(since: datetime, until: datetime, max_points: int = MAX_POINTS) -> int:
    """The smallest bucket width giving at most ``max_points`` points over the range."""
    span = (until - since).total_seconds()
    return next((b for b in BUCKETS_S if span / b <= max_points), BUCKETS_S[-1])


@st.cache_resource(show_spinner=False)
def _store(url: str) -> ResultStore:
    # Connect only, read-only: the dashboard never creates, migrates or locks the store
    # to read (the SLI cache is filled by writers' processes, not by page views).
    return ResultStore(url, read_only=True)


@st.cache_resource(show_spinner=False)
def _writer(url: str) -> ResultStore:
    return ResultStore(url)


def store(url: str) -> ResultStore:
    """The shared read-only store for ``url``: pages and reports read it."""
    return _store(url)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def store_status(url: str) -> StoreStatus:
    """Whether there is anything to show: missing file, no schema or rounds, or ready."""
    path = sqlite_file(url)
    if path is not None and not path.exists():
        return StoreStatus("missing", f"{path} does not exist yet")
    try:
        s = _store(url)
        if s.schema_version() is None:
            return StoreStatus("empty", "the store has no tables yet")
        if s.first_round_at() is None:
            return StoreStatus("empty", "the store has no rounds yet")
    except DATABASE_ERRORS as exc:
        cause = getattr(exc, "orig", None) or exc
        return StoreStatus("unreachable", f"{type(cause).__name__}: {cause}")
    return StoreStatus("ready")


@st.cache_data(ttl=HEAVY_TTL_S, show_spinner=False)
def labels(url: str) -> Labels:
    """The probes, targets and runners that have stored rounds, for the filters."""
    found = _store(url).labels()
    return Labels(found["probes"], found["targets"], found["runners"])


@st.cache_data(ttl=HEAVY_TTL_S, max_entries=64, show_spinner=False)
def objectives(
    url: str,
    settings: Settings,
    since: datetime,
    until: datetime,
    filters: Filters,
    slo_windows: bool = False,
) -> Objectives:
    """Every objective judged by ``probes.judging.verdict`` (the gate's and reports' answer).

    With ``slo_windows`` each objective uses its own window ending at ``until``.
    """
    evaluation = evaluate_window(
        _store(url), settings, since=since, until=until, filters=filters, slo_windows=slo_windows
    )
    by_name = {s.name: s for s in settings.slos}
    rows = []
    for r in evaluation.results:
        slo = by_name[r.name]
        alert, alert_short, alert_text = alert_summary(r.alerts)
        rows.append(
            {
                "name": r.name,
                "sli": r.sli,
                "objective": r.objective,
                "status": r.status,
                "value": r.value,
                "good": r.good,
                "valid": r.valid,
                "budget_left": r.budget_left,
                "burn_rate": r.burn_rate,
                "coverage": r.coverage,
                "alert": alert,
                "alert_short": alert_short,
                "alert_text": alert_text,
                "window_s": slo.window_s if slo_windows else (until - since).total_seconds(),
                "threshold": _threshold_text(slo),
                "excluded_buckets": r.excluded_buckets,
            }
        )
    return Objectives(
        frame=pd.DataFrame(rows),
        verdict=evaluation.verdict,
        reason=evaluation.reason,
        rounds=dict(evaluation.rounds),
    )


def _threshold_text(slo: SloSettings) -> str:
    if slo.threshold_ms is not None and slo.operation:
        return f"{slo.threshold_text} ({slo.operation})"
    if slo.threshold_mb is not None:
        return f"{slo.threshold_text} growth"
    return slo.threshold_text


@st.cache_data(ttl=LIVE_TTL_S, max_entries=64, show_spinner=False)
def latest_rounds(
    url: str, until: datetime, filters: Filters, limit: int = LATEST_ROUNDS
) -> pd.DataFrame:
    """The last ``limit`` rounds, failing ones first (then newest first), with their failures."""
    s = _store(url)
    rows = s.rounds_between(until - timedelta(days=3650), until, filters, limit=limit)
    if not rows:
        return pd.DataFrame(columns=["started_at", "status", "failed", "failures", "run_id"])
    frame = pd.DataFrame(rows)
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
    oldest = frame["started_at"].min().to_pydatetime()
    failing = s.failing_sessions(oldest, until, filters, limit=limit * 100)
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


@st.cache_data(ttl=LIVE_TTL_S, max_entries=64, show_spinner=False)
def failing_sessions(
    url: str, since: datetime, until: datetime, filters: Filters, limit: int = 20
) -> pd.DataFrame:
    """The newest failed sessions: who, when, why, with the close code named."""
    rows = _store(url).failing_sessions(since, until, filters, limit=limit)
    columns = [
        "started_at",
        "user_id",
        "reason",
        "close",
        "missing_events",
        "error",
        "probe",
        "target",
        "runner",
        "run_id",
    ]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows)
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
    frame["close"] = [
        close_code_label(c) if pd.isna(h) else f"refused (HTTP {int(h)})"
        for c, h in zip(frame["close_code"].astype(object), frame["http_status"], strict=True)
    ]
    frame["missing_events"] = frame["missing_events"].map(", ".join)
    return frame[columns]


@st.cache_data(ttl=60, max_entries=32, show_spinner=False)
def round_detail(url: str, run_id: str) -> RoundDetail | None:
    """One round's sessions, events, memory samples and DB timings; None if not stored."""
    r = _store(url).round(run_id)
    if r is None:
        return None
    sessions = pd.DataFrame(
        [
            {
                "user_id": s.user_id,
                "outcome": s.outcome,
                "reason": s.reason or "",
                "close": close_code_label(s.close_code)
                if s.http_status is None
                else f"refused (HTTP {s.http_status})",
                "close_code": s.close_code,
                "http_status": s.http_status,
                "missing_events": ", ".join(s.missing_events),
                "foreign_events": s.foreign_events,
                "order_ok": s.order_ok,
                "seq_gaps": s.seq_gaps,
                "events": len(s.events),
                "connect_ms": s.connect_ms,
                "first_event_ms": s.first_event_ms,
                "completion_ms": s.completion_ms,
                "total_ms": s.total_ms,
                "auth_mode": s.auth_mode,
                "error": s.error,
                "close_reason": s.close_reason,
            }
            for s in r.sessions
        ],
        columns=[
            "user_id",
            "outcome",
            "reason",
            "close",
            "close_code",
            "http_status",
            "missing_events",
            "foreign_events",
            "order_ok",
            "seq_gaps",
            "events",
            "connect_ms",
            "first_event_ms",
            "completion_ms",
            "total_ms",
            "auth_mode",
            "error",
            "close_reason",
        ],
    )
    if not sessions.empty:
        sessions = (
            sessions.assign(_ok=sessions["outcome"] == "ok")
            .sort_values(["_ok", "user_id"])
            .drop(columns="_ok")
            .reset_index(drop=True)
        )
    events = pd.DataFrame(
        [
            {"user_id": s.user_id, "type": e.type, "ms": e.ms, "seq": e.seq, "foreign": e.foreign}
            for s in r.sessions
            for e in s.events
        ],
        columns=["user_id", "type", "ms", "seq", "foreign"],
    )
    memory = pd.DataFrame(
        [{"at": m.at, "rss_mb": m.rss_mb} for m in r.memory_samples], columns=["at", "rss_mb"]
    )
    timings = pd.DataFrame(
        [
            {
                "operation": t.operation,
                "client_ms": t.client_ms,
                "server_ms": t.server_ms,
                "ok": t.ok,
                "error": t.error,
            }
            for t in r.db_timings
        ],
        columns=["operation", "client_ms", "server_ms", "ok", "error"],
    )
    problems = []
    if r.auth_check is not None and not r.auth_check.ok:
        problems.append(f"bad-token check: {r.auth_check.error or 'not refused with 401'}")
    problems += [f"database {t.operation}: {t.error or 'failed'}" for t in r.db_timings if not t.ok]
    if r.reason:
        problems.append(f"round {r.status}: {r.reason}")
    auth = "not made" if r.auth_check is None else "ok" if r.auth_check.ok else "failed"
    summary = RoundSummary(
        r.run_id,
        r.probe,
        r.target,
        r.runner,
        r.status,
        r.started_at,
        r.finished_at,
        r.memory_growth_mb,
        auth,
    )
    return RoundDetail(summary, sessions, events, memory, timings, problems)


# --- stability: aggregates over a range ----------------------------------------------


@st.cache_data(ttl=HEAVY_TTL_S, max_entries=64, show_spinner=False)
def latency(
    url: str, since: datetime, until: datetime, filters: Filters, bucket_s: int
) -> pd.DataFrame:
    """p50/p95/p99 of first-event and completion latency per bucket (computed in SQL)."""
    rows = _store(url).latency_percentiles(since, until, filters, bucket_s=bucket_s)
    columns = ["start"] + [
        f"{m}_{p}" for m in ("first_event", "completion") for p in ("count", "p50", "p95", "p99")
    ]
    return pd.DataFrame(rows, columns=columns)


def percentiles_of(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``first_event_p50`` ... -> ``start``, ``p50``, ``p95``, ``p99`` of one metric."""
    names = {f"{metric}_{p}": p for p in ("p50", "p95", "p99")}
    return frame[["start", *names]].rename(columns=names).dropna(subset=["p50"])


@st.cache_data(ttl=HEAVY_TTL_S, max_entries=64, show_spinner=False)
def memory(
    url: str, since: datetime, until: datetime, filters: Filters, bucket_s: int
) -> tuple[pd.DataFrame, bool]:
    """Memory growth per round, or the worst round per bucket when there are too many.

    Returns the frame (``started_at``, ``growth_mb``, ``peak_mb``) and whether it is per round.
    """
    s = _store(url)
    counts = s.round_counts(since, until, filters)
    if sum(counts.values()) <= MEMORY_POINTS:
        rows = s.memory_by_round(since, until, filters)
        frame = pd.DataFrame(rows, columns=["started_at", "memory_growth_mb", "memory_peak_mb"])
        frame = frame.rename(columns={"memory_growth_mb": "growth_mb", "memory_peak_mb": "peak_mb"})
        return frame, True
    rows = s.memory_buckets(since, until, filters, bucket_s=bucket_s)
    frame = pd.DataFrame(rows, columns=["start", "rounds", "growth_max_mb", "peak_max_mb"])
    frame = frame.rename(
        columns={"start": "started_at", "growth_max_mb": "growth_mb", "peak_max_mb": "peak_mb"}
    )
    return frame, False


@st.cache_data(ttl=HEAVY_TTL_S, max_entries=64, show_spinner=False)
def close_codes(
    url: str, since: datetime, until: datetime, filters: Filters, bucket_s: int
) -> pd.DataFrame:
    """Sessions per bucket per close code (NA: refused, no WebSocket)."""
    rows = _store(url).close_codes(since, until, filters, bucket_s=bucket_s)
    frame = pd.DataFrame(rows, columns=["start", "close_code", "count"])
    frame["close_code"] = frame["close_code"].astype("Int64")
    return frame


@st.cache_data(ttl=HEAVY_TTL_S, max_entries=64, show_spinner=False)
def completeness(
    url: str, since: datetime, until: datetime, filters: Filters, bucket_s: int
) -> pd.DataFrame:
    """Sessions with a complete, in-order event stream per bucket (the SLI's own counts)."""
    sli = SloSettings("event-completeness", "event_completeness", 100.0)
    buckets = _store(url).sli_counts(sli, since, until, filters, bucket_s=bucket_s)
    return pd.DataFrame(
        [{"start": b.start, "good": b.good, "valid": b.valid} for b in buckets],
        columns=["start", "good", "valid"],
    )


@st.cache_data(ttl=HEAVY_TTL_S, max_entries=64, show_spinner=False)
def db_timings(
    url: str, since: datetime, until: datetime, filters: Filters, bucket_s: int
) -> pd.DataFrame:
    """p50/p95 per bucket and DB operation (server ms when reported, else client ms)."""
    rows = _store(url).db_timings_between(since, until, filters, bucket_s=bucket_s)
    frame = pd.DataFrame(
        rows, columns=["start", "operation", "ms_count", "ms_p50", "ms_p95", "failed"]
    )
    return frame.rename(columns={"ms_count": "count", "ms_p50": "p50", "ms_p95": "p95"})


@st.cache_data(ttl=LIVE_TTL_S, max_entries=64, show_spinner=False)
def notes(url: str, since: datetime, until: datetime, target: str | None) -> pd.DataFrame:
    """Deploy markers, incidents and maintenance windows overlapping the range."""
    found = _store(url).annotations_between(since, until, target=target)
    frame = pd.DataFrame(
        [
            {
                "kind": a.kind,
                "start": a.start,
                "end": a.end,
                "text": a.text,
                "target": a.target or "all targets",
                "id": a.id,
            }
            for a in found
        ],
        columns=["kind", "start", "end", "text", "target", "id"],
    )
    frame["start"] = pd.to_datetime(frame["start"], utc=True)
    frame["end"] = pd.to_datetime(frame["end"], utc=True)
    return frame


def add_annotation(url: str, note: Annotation) -> int:
    """Store a note through ``probes.results`` and drop the cached annotations."""
    new_id = _writer(url).add_annotation(note)
    notes.clear()
    return new_id
