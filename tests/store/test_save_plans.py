"""A round's save on SQLite reads the history by key, never by scanning a table.

Scans made each ``save_round`` cost more the longer the history: the histogram merge's
row-value ``IN`` list (stop 20) and the SLI refill's ``NOT IN (uncounted rounds)``
(~9 ms a definition at a year of 30 locations, seven definitions a save). Every
statement of a real save is planned again here (``EXPLAIN QUERY PLAN``) on a store
with a history; PostgreSQL's plans depend on its statistics, so it has no such test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event

from probes.config import default_slos
from probes.records import DbTiming, Event, MemorySample, RoundResult, SessionResult
from probes.results import ResultStore

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
# Tables that grow with the history (the CTE of minutes and SQLite's own are not).
HISTORY = (
    "rounds", "sessions", "session_events", "db_timings", "memory_samples", "histograms",
    "session_rollup_minute", "session_rollup_hour", "session_rollup_day",
    "sli_minute_cache", "sli_minute_coverage", "sli_hour_cache", "sli_hour_coverage",
    "sli_day_cache", "sli_day_coverage", "exposition_series", "round_labels",
)  # fmt: skip


def a_round(k: int, status: str = "passed") -> RoundResult:
    at = T0 + timedelta(minutes=5 * k)
    run_id = f"r{k}"
    users = tuple(
        SessionResult(
            run_id, "chat", "ws://a/ws", "eu-1", f"u{i}", "header", at,
            connect_ms=2.0, first_event_ms=40.0 + i, completion_ms=400.0 + k % 50,
            events=(Event("agent_started", 1.0, seq=1), Event("agent_completed", 2.0, seq=2)),
            outcome="ok",
        )
        for i in range(3)
    )  # fmt: skip
    return RoundResult(
        run_id, "chat", "ws://a/ws", "eu-1", at, at + timedelta(seconds=2), status,
        sessions=users, db_timings=(DbTiming("thread_create", 3.0, 2.0, True),),
        memory_samples=(MemorySample(at, 100.0), MemorySample(at, 101.0)),
        memory_source="healthz",
    )  # fmt: skip


def test_saving_a_round_scans_no_table_of_the_history(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'plans.db'}"
    with ResultStore.open(url) as store:
        store.track_slis(default_slos())  # each save then recounts its minutes
        store.save_rounds([a_round(k, "error" if k % 7 == 0 else "passed") for k in range(200)])
        statements: list[tuple[str, Any]] = []

        def seen(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
                 many: bool) -> None:  # fmt: skip
            if not many and not statement.lstrip().upper().startswith(("BEGIN", "PRAGMA")):
                statements.append((statement, params))

        event.listen(store._writer, "before_cursor_execute", seen)
        store.save_round(a_round(200))
        event.remove(store._writer, "before_cursor_execute", seen)
    assert any("sli_minute_cache" in s for s, _ in statements)  # the refill ran
    plain = create_engine(url)
    scans = []
    with plain.connect() as conn:
        for statement, params in statements:
            for *_, step in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params):
                whole = any(step.startswith(f"SCAN {t}") for t in HISTORY) and "USING" not in step
                # rounds and sessions: not even along an index
                if whole or step.startswith(("SCAN rounds", "SCAN sessions")):
                    scans.append((step, statement[:160]))
    plain.dispose()
    assert not scans
