"""The per-minute SLI cache gives the raw rows' answer: cold, warm, and after late rounds."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, insert, make_url, select

from probes.config import SloSettings
from probes.records import (
    DbTiming,
    Filters,
    MemorySample,
    RoundResult,
    RoundStatus,
    SessionResult,
    SliBucket,
)
from probes.results import ResultStore, engine, rows, sli_minute_cache, sli_minute_coverage
from probes.results import schema as tables

HEAD = engine.head_revision()

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)
M = timedelta(minutes=1)
END = T0 + 40 * M  # the newest round starts here: minutes before it are cached
THRESHOLD_SLOS = [
    SloSettings("first", "first_event_latency", 99.0, threshold_ms=300.0),
    SloSettings("first-tight", "first_event_latency", 99.0, threshold_ms=150.0),
    SloSettings("done", "completion_latency", 99.0, threshold_ms=2000.0),
    SloSettings("db-create", "db_latency", 99.0, threshold_ms=40.0, operation="thread_create"),
    SloSettings("db-batch", "db_latency", 99.0, threshold_ms=40.0, operation="message_batch"),
    SloSettings("db-any", "db_latency", 99.0, threshold_ms=25.0),
    SloSettings("memory", "memory_growth", 99.0, threshold_mb=5.0),
    SloSettings("chat-first", "first_event_latency", 99.0, threshold_ms=300.0, probe="chat"),
]
LABELS = [
    ("chat", "ws://a/ws", "eu-1"),
    ("tools", "ws://a/ws", "us-1"),
    ("chat", "ws://b/ws", "us-1"),
]
STATUSES: tuple[RoundStatus, ...] = ("passed", "failed", "passed", "error", "passed", "skipped")


def a_round(k: int, at: datetime, users: int = 4) -> RoundResult:
    """Round ``k``: sessions 17 s apart (so into the next minute), varied latencies and timings."""
    probe, target, runner = LABELS[k % len(LABELS)]
    run_id = f"c{k}"
    sessions = tuple(
        SessionResult(
            run_id, probe, target, runner, f"u{i}", "header", at + 17 * i * S,
            connect_ms=None if (k + i) % 7 == 0 else 4.0,
            http_status=401 if (k + i) % 7 == 0 else None,
            first_event_ms=None if (k + i) % 5 == 0 else 80.0 + 60 * ((k * 3 + i) % 6),
            completion_ms=600.0 + 500 * ((k + 2 * i) % 5),
            outcome="ok",
        )
        for i in range(users)
    )  # fmt: skip
    timings = (
        DbTiming("thread_create", 10.0 + 9 * (k % 6), None, k % 11 != 0),
        DbTiming("message_batch", None, 20.0 + 7 * (k % 4), True),
    )
    return RoundResult(
        run_id, probe, target, runner, at, at + 60 * S, STATUSES[k % len(STATUSES)],
        sessions=sessions, db_timings=timings,
        memory_samples=(MemorySample(at, 100.0), MemorySample(at + 50 * S, 100.0 + k % 9))
        if k % 3 else (),
    )  # fmt: skip


def history() -> list[RoundResult]:
    """A round every 70 s from T0 to END (the last one at END), at odd seconds."""
    out = [a_round(k, T0 + timedelta(seconds=70 * k + k % 13)) for k in range(34)]
    return [*out, a_round(99, END)]


def raw(store: ResultStore, slo: SloSettings, span: tuple[datetime, datetime],
        filters: Filters, bucket_s: int) -> list[SliBucket]:  # fmt: skip
    """The answer from the raw rows: a ``run_ids`` filter bypasses the cache."""
    every = tuple(r["run_id"] for r in store.rounds_between(T0 - M, END + M))
    return store.sli_counts(slo, *span, replace(filters, run_ids=every), bucket_s)


def covered_minutes(url: str) -> int:
    check = create_engine(url)
    try:
        with check.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(sli_minute_coverage)).scalar())
    finally:
        check.dispose()


@pytest.mark.parametrize("slo", THRESHOLD_SLOS, ids=lambda s: s.name)
def test_cached_counts_equal_the_raw_counts(store: ResultStore, slo: SloSettings) -> None:
    for r in history():
        store.save_round(r)
    windows = [
        (T0, END + M),
        (T0 + 7 * S, T0 + 23 * M + 31 * S),
        (T0 - 5 * M, T0 + 12 * M),
        (T0 + 61 * S, T0 + 102 * S),
        (T0 + 30 * M, END + 5 * M),
    ]
    filters = [Filters(), Filters(probe="chat"), Filters(target="ws://a/ws", runner="us-1")]
    for span in windows:
        for f in filters:
            for bucket_s in (60, 300, 3600):
                expected = raw(store, slo, span, f, bucket_s)
                assert store.sli_counts(slo, *span, f, bucket_s) == expected, (span, f)
                assert store.sli_counts(slo, *span, f, bucket_s) == expected, (span, f)
    assert sum(b.valid for b in raw(store, slo, (T0, END + M), Filters(), 60)) > 0


def test_the_cache_is_filled_and_then_read(store: ResultStore, store_url: str) -> None:
    for r in history():
        store.save_round(r)
    slo = THRESHOLD_SLOS[0]
    first = store.sli_counts(slo, T0, END + M)
    assert covered_minutes(store_url) == 40  # T0 .. END, the newest round's minute excluded
    assert store.sli_counts(slo, T0, END + M) == first
    assert first == raw(store, slo, (T0, END + M), Filters(), 60)


@pytest.mark.parametrize("slo", THRESHOLD_SLOS, ids=lambda s: s.name)
def test_a_round_saved_late_into_cached_minutes_changes_the_answer(
    store: ResultStore, slo: SloSettings
) -> None:
    for r in history():
        store.save_round(r)
    span = (T0, END + M)
    before = store.sli_counts(slo, *span, bucket_s=300)
    late = replace(a_round(35, T0 + 10 * M + 50 * S, users=6), run_id="late", status="passed")
    late = replace(late, sessions=tuple(replace(s, run_id="late") for s in late.sessions))
    store.save_round(late)  # its sessions run from minute 10 into minute 12
    after = store.sli_counts(slo, *span, bucket_s=300)
    assert after == raw(store, slo, span, Filters(), 300)
    assert after != before
    assert store.sli_counts(slo, *span, bucket_s=60) == raw(store, slo, span, Filters(), 60)


def test_a_store_that_cannot_write_the_cache_still_answers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'slawatch.db'}"
    with ResultStore.open(url) as store:
        for r in history():
            store.save_round(r)
    lock = sqlite3.connect(tmp_path / "slawatch.db", isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")  # another writer holds the lock throughout
        with ResultStore(url, busy_timeout_ms=50) as store:
            for slo in THRESHOLD_SLOS:
                span = (T0 + 7 * S, END + M)
                expected = raw(store, slo, span, Filters(), 60)
                assert store.sli_counts(slo, *span) == expected
        assert covered_minutes(url) == 0
    finally:
        lock.execute("ROLLBACK")
        lock.close()


def test_a_database_at_0002_with_data_upgrades_and_gives_the_same_answers(
    store_url: str, tmp_path: Path
) -> None:
    rounds = history()
    span = (T0, END + M)
    with ResultStore.open(f"sqlite:///{tmp_path / 'reference.db'}") as reference:
        for r in rounds:
            reference.save_round(r)
        expected = [reference.sli_counts(slo, *span) for slo in THRESHOLD_SLOS]
    with ResultStore(engine.make_parent_folder(store_url)) as store:
        store.upgrade("0002")
        insert_as_0002(store_url, rounds)
        store.upgrade()
        assert store.schema_version() == HEAD
        assert [store.sli_counts(slo, *span) for slo in THRESHOLD_SLOS] == expected
        assert [store.sli_counts(slo, *span) for slo in THRESHOLD_SLOS] == expected
        definitions = {(s.sli, s.threshold_ms, s.threshold_mb, s.operation) for s in THRESHOLD_SLOS}
        assert covered_minutes(store_url) == 40 * len(definitions)
    check = create_engine(store_url)
    try:
        with check.connect() as conn:
            assert conn.execute(select(func.count()).select_from(sli_minute_cache)).scalar()
    finally:
        check.dispose()


def insert_as_0002(url: str, rounds: list[RoundResult]) -> None:
    """Write rounds the way revision 0002's store did (rows with minutes, no SLI cache)."""
    legacy = create_engine(make_url(url))
    try:
        with legacy.begin() as conn:
            for r in rounds:
                conn.execute(insert(tables.rounds), [_at_0002(rows.round_row(r))])
                conn.execute(
                    insert(tables.sessions), [_at_0002(rows.session_row(s)) for s in r.sessions]
                )
                conn.execute(
                    insert(tables.db_timings), [rows.timing_row(r, t) for t in r.db_timings]
                )
    finally:
        legacy.dispose()


def _at_0002(row: dict[str, Any]) -> dict[str, Any]:
    """Without the column revision 0010 added."""
    return {k: v for k, v in row.items() if k != "profile"}


def test_prune_keeps_the_cached_minutes_like_the_rollup(store: ResultStore) -> None:
    for r in history():
        store.save_round(r)
    slo = THRESHOLD_SLOS[0]
    cached = store.sli_counts(slo, T0, T0 + 20 * M)
    store.prune_older_than(T0 + 30 * M)
    assert store.sli_counts(slo, T0, T0 + 20 * M) == cached  # raw rows gone, counts kept
    assert raw(store, slo, (T0, T0 + 20 * M), Filters(), 60) == []


def test_a_tracked_objective_is_filled_by_the_writer_and_never_by_a_read(
    store: ResultStore, store_url: str
) -> None:
    rounds = history()
    store.save_round(rounds[0])
    store.track_slis(THRESHOLD_SLOS)  # fills what is stored: round 0's minutes
    for r in rounds[1:]:
        store.save_round(r)  # each save counts its minutes (and any gap before them)
    store.save_round(a_round(50, T0 + 3 * M + 5 * S))  # late, into covered minutes
    definitions = {(s.sli, s.threshold_ms, s.threshold_mb, s.operation) for s in THRESHOLD_SLOS}
    minutes = 41  # T0 .. END, both included
    assert covered_minutes(store_url) == minutes * len(definitions)
    before = cache_rows(store_url)
    span = (T0 + 7 * S, END + M)
    for slo in THRESHOLD_SLOS:
        assert store.sli_counts(slo, *span) == raw(store, slo, span, Filters(), 60)
    assert covered_minutes(store_url) == minutes * len(definitions)  # the reads wrote nothing
    assert cache_rows(store_url) == before


def test_tracking_after_an_upgrade_fills_the_history_before_any_read(
    store: ResultStore, store_url: str
) -> None:
    for r in history():
        store.save_round(r)  # nothing tracked yet: no cache
    assert covered_minutes(store_url) == 0
    store.track_slis(THRESHOLD_SLOS)
    store.track_slis(THRESHOLD_SLOS)  # again (every prune does): nothing new to do
    definitions = {(s.sli, s.threshold_ms, s.threshold_mb, s.operation) for s in THRESHOLD_SLOS}
    assert covered_minutes(store_url) == 41 * len(definitions)  # every minute with rounds
    span = (T0, END + M)
    for slo in THRESHOLD_SLOS:
        assert store.sli_counts(slo, *span) == raw(store, slo, span, Filters(), 60)
    assert covered_minutes(store_url) == 41 * len(definitions)


def cache_rows(url: str) -> list[tuple[object, ...]]:
    check = create_engine(url)
    try:
        with check.connect() as conn:
            query = select(sli_minute_cache).order_by(*sli_minute_cache.primary_key.columns)
            return [tuple(row) for row in conn.execute(query)]
    finally:
        check.dispose()


def test_evaluations_with_moving_bounds_compile_their_statements_once(store: ResultStore) -> None:
    """`slawatch run` judges its objectives on every round over segments that move with
    "now"; inlined bounds made each evaluation new statements in the engine's compiled
    cache (7 per evaluation, ~40 MB/h in the soak). Values now bind at execution time."""
    for r in history():
        store.save_round(r)
    slos = THRESHOLD_SLOS[:3]
    store.track_slis(slos)
    last = int(END.timestamp() // 60)
    counts = []
    for shift in range(30):
        now = END + shift * M
        store.slo_segments(slos, [last - 30 + shift, last - 10 + shift], [], now)
        counts.append(len(store._engine._compiled_cache or {}))
    assert counts[-1] == counts[2], counts  # after the first evaluations, no new entries


def test_rounds_saved_into_new_minutes_compile_the_cache_fill_once(store: ResultStore) -> None:
    """The writer fills the SLI cache for every new minute; the fill's first minute was
    inlined into its SQL, a new statement in the engine's compiled cache per minute (a
    long `slawatch run` grew by one every minute). It binds at execution time now."""
    store.track_slis(THRESHOLD_SLOS[:3])
    counts = []
    for k in range(12):
        store.save_round(a_round(k, T0 + k * M + 7 * S))  # each round in a minute of its own
        counts.append(len(store._writer._compiled_cache or {}))
    assert counts[-1] == counts[3], counts  # after the first rounds, no new entries


def test_reading_the_schema_version_compiles_nothing_new(store: ResultStore) -> None:
    """The dashboard checks the store's schema every 5 s; Alembic builds a new version
    table for each check, and each was kept as a new compiled statement."""
    store.schema_version()
    before = len(store._engine._compiled_cache or {})
    for _ in range(5):
        assert store.schema_version() is not None
    assert len(store._engine._compiled_cache or {}) == before
