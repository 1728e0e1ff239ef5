"""Retention: raw rows go after ``retention``, rounds and rollups after
``rollup_retention``, and the freed space comes back (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, func, select, text

from probes.config import SloSettings
from probes.records import DbTiming, RoundResult, SessionResult, SliBucket
from probes.results import ResultStore, session_rollup, sli_minute_cache

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SUCCESS = SloSettings("s", "session_success", 99.0)
LATENCY = SloSettings("s", "first_event_latency", 99.0, threshold_ms=500.0)


def a_round(run_id: str, at: datetime, users: int = 3) -> RoundResult:
    sessions = tuple(
        SessionResult(
            run_id, "chat", "ws://a/ws", "eu-1", f"user-{i:04d}", "header", at,
            connect_ms=2.0, first_event_ms=100.0 + i, completion_ms=900.0, total_ms=950.0,
            close_code=1000, error="x" * 200, outcome="ok",
        )
        for i in range(users)
    )  # fmt: skip
    timings = (DbTiming("thread_create", 5.0, 4.0, True),)
    return RoundResult(run_id, "chat", "ws://a/ws", "eu-1", at, at, "passed",
                       sessions=sessions, db_timings=timings)  # fmt: skip


def count(url: str, table: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def test_prune_keeps_rollups_for_rollup_retention_and_then_drops_them(
    store: ResultStore, store_url: str
) -> None:
    for run_id, at in (("ancient", T0), ("old", T0 + 10 * DAY), ("young", T0 + 20 * DAY)):
        store.save_round(a_round(run_id, at))
    span = (T0 - DAY, T0 + 30 * DAY)
    assert sum(b.valid for b in store.sli_counts(LATENCY, *span, bucket_s=86400)) == 9  # cached
    raw_before, rollups_before = T0 + 15 * DAY, T0 + 5 * DAY
    # ancient: round, 3 sessions, 1 timing; old: 3 sessions, 1 timing; rollup and cache rows
    assert store.prune(raw_before, rollups_before) >= 1 + 3 + 1 + 3 + 1 + 1 + 1
    assert store.round("ancient") is None
    old = store.round("old")
    assert old is not None and old.sessions == () and old.db_timings == ()
    assert store.round("young") == a_round("young", T0 + 20 * DAY)
    day = 86400
    assert store.sli_counts(SUCCESS, *span, bucket_s=day) == [
        SliBucket(T0 + 10 * DAY - timedelta(hours=12), 3, 3),
        SliBucket(T0 + 20 * DAY - timedelta(hours=12), 3, 3),
    ]
    assert sum(b.valid for b in store.sli_counts(LATENCY, *span, bucket_s=day)) == 6
    assert [r["run_id"] for r in store.rounds_between(*span)] == ["young", "old"]
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            for table in (session_rollup, sli_minute_cache):
                oldest = conn.execute(select(func.min(table.c.minute))).scalar_one()
                assert oldest >= (rollups_before - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
                    minutes=1
                )
    finally:
        engine.dispose()
    assert store.labels()["probes"] == ["chat"]


def test_rollups_cannot_be_pruned_before_the_raw_rows(store: ResultStore) -> None:
    with pytest.raises(ValueError, match="rollups_before is later than raw_before"):
        store.prune(T0, T0 + DAY)


def test_pruned_space_comes_back(store: ResultStore, store_url: str) -> None:
    for k in range(20):
        store.save_round(a_round(f"r{k}", T0 + k * timedelta(minutes=1), users=200))
    if store_url.startswith("sqlite"):
        before = pragma(store_url, "page_count")
        store.prune(T0 + DAY, T0 - DAY)
        assert pragma(store_url, "freelist_count") == 0
        assert pragma(store_url, "page_count") < before / 2
        return
    store.prune(T0 + DAY, T0 - DAY)
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            vacuumed = conn.execute(
                text(
                    "SELECT last_vacuum IS NOT NULL AND last_analyze IS NOT NULL "
                    "FROM pg_stat_user_tables "
                    "WHERE relname = 'sessions' AND schemaname = current_schema()"
                )
            ).scalar_one()
            assert vacuumed
    finally:
        engine.dispose()
    assert count(store_url, "sessions") == 0


def pragma(url: str, name: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            return int(conn.exec_driver_sql(f"PRAGMA {name}").scalar_one())
    finally:
        engine.dispose()
