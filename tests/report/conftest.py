"""Reports over real SQLite files, filled through the real store with hand-built rounds."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from probes.config import DEFAULT_EVENTS, Settings, parse_settings
from probes.records import (
    AuthCheck,
    DbTiming,
    Event,
    MemorySample,
    RoundResult,
    SessionResult,
    round_status,
)
from probes.results import ResultStore

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
EVERY = timedelta(minutes=10)
HOUR = timedelta(hours=1)
TARGET = "ws://127.0.0.1:9/ws"
HOSTILE = '<script>alert("x")</script>=HYPERLINK("http://evil.example")'

CONFIG = """
[gate]
min_coverage = 90

[[probes]]
name = "default"
target = "ws://127.0.0.1:9/ws"
every = "10m"
timeout = "30s"
session_timeout = "10s"

[[slo]]
name = "session-success"
sli = "session_success"
objective = 99.0

[[slo]]
name = "event-completeness"
sli = "event_completeness"
objective = 99.0

[[slo]]
name = "first-event-latency"
sli = "first_event_latency"
objective = 90.0
threshold_ms = 500

[[slo]]
name = "memory-growth"
sli = "memory_growth"
objective = 100.0
threshold_mb = 50

[[slo]]
name = "auth-rejection"
sli = "auth_rejection"
objective = 100.0
"""


def settings() -> Settings:
    return parse_settings(CONFIG)


def events(types: tuple[str, ...] = DEFAULT_EVENTS) -> tuple[Event, ...]:
    return tuple(Event(kind, 100.0 + 50 * i, seq=i + 1) for i, kind in enumerate(types))


def session(run_id: str, user: str, at: datetime, **changes: Any) -> SessionResult:
    """A good session; ``changes`` override any field."""
    good = SessionResult(
        run_id=run_id, probe="default", target=TARGET, runner="local", user_id=user,
        auth_mode="header", started_at=at, connect_ms=5.0, first_event_ms=120.0,
        completion_ms=400.0, total_ms=450.0, close_code=1000, events=events(),
        outcome="ok",
    )  # fmt: skip
    return replace(good, **changes)


def failed_session(run_id: str, user: str, at: datetime, **changes: Any) -> SessionResult:
    """A session the server closed with 1011 before agent_completed."""
    failed: dict[str, Any] = {
        "close_code": 1011, "close_reason": "internal error",
        "events": events(DEFAULT_EVENTS[:3]), "missing_events": DEFAULT_EVENTS[3:],
        "completion_ms": None, "outcome": "failed", "reason": "closed_abnormally",
        "error": "closed 1011 (internal error)",
    }  # fmt: skip
    return session(run_id, user, at, **(failed | changes))


def round_(
    run_id: str,
    at: datetime,
    sessions: tuple[SessionResult, ...] | None = None,
    *,
    growth_mb: float = 5.0,
    auth_ok: bool = True,
    status: str | None = None,
    reason: str = "",
) -> RoundResult:
    """A round of two users at ``at``; good sessions unless given."""
    if sessions is None:
        sessions = (session(run_id, "probe-user-1", at), session(run_id, "probe-user-2", at))
    auth = AuthCheck(
        401 if auth_ok else None,
        None if auth_ok else 1011,
        auth_ok,
        "" if auth_ok else "accepted a bad token",
    )
    timings = (DbTiming("thread_create", 3.0, 1.0, True),)
    samples = (MemorySample(at, 100.0), MemorySample(at + timedelta(seconds=2), 100.0 + growth_mb))
    return RoundResult(
        run_id=run_id, probe="default", target=TARGET, runner="local", started_at=at,
        finished_at=at + timedelta(seconds=3),
        status=status or round_status(sessions, auth, timings),  # type: ignore[arg-type]
        reason=reason, sessions=sessions, auth_check=auth, db_timings=timings,
        memory_samples=samples, memory_source="healthz",
    )  # fmt: skip


def good_hour(prefix: str, start: datetime = T0) -> list[RoundResult]:
    """Six good rounds, one every 10 minutes: full coverage of [start, start + 1h)."""
    return [round_(f"{prefix}-{i}", start + i * EVERY + timedelta(seconds=5)) for i in range(6)]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'slawatch.db'}"


@pytest.fixture
def store(db_url: str) -> Iterator[ResultStore]:
    with ResultStore.open(db_url) as opened:
        yield opened


def save(store: ResultStore, rounds: list[RoundResult]) -> None:
    for r in rounds:
        store.save_round(r)
