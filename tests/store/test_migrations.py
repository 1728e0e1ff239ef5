"""The Alembic revisions build the schema the store's tables describe, idempotently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, insert, inspect, make_url, text

from probes.config import SloSettings
from probes.records import DbTiming, RoundResult, SessionResult
from probes.results import METADATA, ResultStore, engine, epoch_minute, rows
from probes.results import schema as tables

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
MINUTE_OF = (
    ("sessions", "started_at"),
    ("rounds", "started_at"),
    ("db_timings", "started_at"),
    ("session_rollup_minute", "bucket"),
)
TABLES = {
    "alembic_version",
    "rounds",
    "sessions",
    "session_events",
    "memory_samples",
    "db_timings",
    "annotations",
    "session_rollup_minute",
    "sli_minute_cache",
    "sli_minute_coverage",
    "round_labels",
    "exposition_series",
    "runner_heartbeats",
    "schedule_slots",
    "histograms",
    "sli_definitions",
    "alert_subjects",
    "incidents",
    "notifications",
    "session_rollup_hour",
    "sli_hour_cache",
    "sli_hour_coverage",
    "sli_day_cache",
    "sli_day_coverage",
    "session_rollup_day",
}
CACHE_TABLES = {"sli_minute_cache", "sli_minute_coverage"}  # revision 0003
LABEL_TABLES = {"round_labels"}  # revision 0004
# Revision 0005 on: start empty at the upgrade (no backfill), or filled from the
# raw rows (0008's histograms), so not in the row counts.
LATER_TABLES = {
    "exposition_series",
    "runner_heartbeats",
    "schedule_slots",
    "histograms",
    "sli_definitions",
    "alert_subjects",
    "incidents",
    "notifications",
    "session_rollup_hour",  # 0011: filled from the minute tables (tests/store/test_hourly.py)
    "sli_hour_cache",
    "sli_hour_coverage",  # 0014: filled from the minute coverage (tests/store/test_hourly.py)
    "sli_day_cache",
    "sli_day_coverage",
    "session_rollup_day",  # 0015: filled from the hour tables (tests/store/test_hourly.py)
}
HEAD = engine.head_revision()


def a_round() -> RoundResult:
    user = SessionResult("r1", "chat", "ws://a/ws", "eu-1", "u1", "header", T0, outcome="ok")
    return RoundResult("r1", "chat", "ws://a/ws", "eu-1", T0, T0, "passed", sessions=(user,))


def test_a_new_database_is_at_no_revision(store_url: str) -> None:
    database = make_url(store_url).database
    if store_url.startswith("sqlite") and database:
        Path(database).parent.mkdir(parents=True)  # ResultStore.open would make it
    with ResultStore(store_url) as store:
        assert store.schema_version() is None


def test_upgrade_from_empty_creates_every_table(store_url: str) -> None:
    with ResultStore.open(store_url) as store:
        assert store.schema_version() == HEAD
    engine = create_engine(store_url)
    try:
        assert set(inspect(engine).get_table_names()) == TABLES
    finally:
        engine.dispose()


def test_the_migrations_match_the_tables_in_code(store_url: str) -> None:
    ResultStore.open(store_url).close()
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, METADATA) == []
    finally:
        engine.dispose()


def test_opening_twice_is_idempotent_and_keeps_the_data(store_url: str) -> None:
    with ResultStore.open(store_url) as store:
        store.save_round(a_round())
    with ResultStore.open(store_url) as store:
        assert store.schema_version() == HEAD
        assert store.round("r1") == a_round()


def test_a_database_at_0001_with_data_upgrades_and_keeps_every_row_and_answer(
    store_url: str, tmp_path: Path
) -> None:
    rounds = upgrade_path_rounds()
    with ResultStore.open(f"sqlite:///{tmp_path / 'reference.db'}") as reference:
        for r in rounds:  # the same rounds written by today's code: the answers to expect
            reference.save_round(r)
        expected = answers(reference)
    with ResultStore(engine.make_parent_folder(store_url)) as store:
        store.upgrade("0001")
        assert store.schema_version() == "0001"
        legacy_insert(store_url, rounds)  # what the 0001 code wrote: no minute columns
        before = row_counts(store_url)
        store.upgrade()
        assert store.schema_version() == HEAD
        assert row_counts(store_url) == before
        assert answers(store) == expected
        for r in rounds:
            assert store.round(r.run_id) == r
    check = create_engine(store_url)
    try:
        with check.connect() as conn:
            for table, at in MINUTE_OF:
                stored = conn.execute(text(f"SELECT {at}, minute FROM {table}")).all()
                assert stored, table
                for when, minute in stored:
                    when = when if isinstance(when, datetime) else datetime.fromisoformat(when)
                    assert minute == epoch_minute(when.replace(tzinfo=when.tzinfo or UTC)), table
    finally:
        check.dispose()


def upgrade_path_rounds() -> list[RoundResult]:
    out = []
    for k, offset in enumerate((0.0, 119.9996, 181.5, 3599.0, 86400.0 + 7)):
        at = T0 + timedelta(seconds=offset)
        users = tuple(
            SessionResult(
                f"m{k}",
                "chat",
                "ws://a/ws",
                "eu-1",
                f"u{i}",
                "header",
                at,
                connect_ms=3.0,
                first_event_ms=90.0 + 200 * i,
                completion_ms=900.0 + 3000 * i,
                total_ms=900.0 + 3000 * i,  # PROFILES.md's completion latency (0012)
                close_code=1000 if i else 1011,
                outcome="ok" if i else "failed",
            )
            for i in range(3)
        )
        timings = (DbTiming("thread_create", 10.0 + 30 * k, None, True),)
        out.append(RoundResult(f"m{k}", "chat", "ws://a/ws", "eu-1", at, at, "passed",
                               sessions=users, db_timings=timings))  # fmt: skip
    return out


def legacy_insert(url: str, rounds: list[RoundResult], *, minutes: bool = False) -> None:
    """Write rounds the way revision 0001's store did: every table without ``minute``.

    With ``minutes``, as 0002-0004 did: with the ``minute`` columns.
    """
    _drop_minute = _keep if minutes else _without_minute
    legacy = create_engine(url)
    try:
        with legacy.begin() as conn:
            for r in rounds:
                conn.execute(insert(tables.rounds), [_drop_minute(rows.round_row(r))])
                for s in r.sessions:
                    conn.execute(insert(tables.sessions), [_drop_minute(rows.session_row(s))])
                conn.execute(
                    insert(tables.db_timings),
                    [_drop_minute(rows.timing_row(r, t)) for t in r.db_timings],
                )
                minute = r.started_at.replace(second=0, microsecond=0)
                conn.execute(
                    insert(tables.session_rollup),
                    [{"bucket": minute, "probe": r.probe, "target": r.target, "runner": r.runner}
                     | {n: len(r.sessions) for n in ("sessions", "complete_in_order",
                                                     "no_foreign", "connected")}
                     | {"ok": len(r.sessions) - 1, "not_1011": len(r.sessions) - 1}
                     | ({"minute": epoch_minute(minute)} if minutes else {})],
                )  # fmt: skip
    finally:
        legacy.dispose()


def row_counts(url: str) -> dict[str, int]:
    counted = create_engine(url)
    try:
        with counted.connect() as conn:
            return {
                name: conn.execute(text(f"SELECT COUNT(*) FROM {name}")).scalar_one()
                for name in sorted(
                    TABLES - {"alembic_version"} - CACHE_TABLES - LABEL_TABLES - LATER_TABLES
                )
            }
    finally:
        counted.dispose()


def _without_minute(row: dict[str, Any]) -> dict[str, Any]:
    """Without the columns later revisions added (``minute``: 0002, ``profile``: 0010)."""
    return {k: v for k, v in row.items() if k not in ("minute", "profile")}


def _keep(row: dict[str, Any]) -> dict[str, Any]:
    """As 0002-0004 wrote rows: with ``minute``, without ``profile`` (0010)."""
    return {k: v for k, v in row.items() if k != "profile"}


def answers(store: ResultStore) -> list[Any]:
    since, until = T0 - timedelta(hours=1), T0 + timedelta(days=2)
    slos = [
        SloSettings("s", "session_success", 99.0),
        SloSettings("s", "first_event_latency", 99.0, threshold_ms=300.0),
        SloSettings("s", "completion_latency", 99.0, threshold_ms=2000.0),
        SloSettings("s", "db_latency", 99.0, threshold_ms=50.0, operation="thread_create"),
    ]
    out: list[Any] = [store.sli_counts(slo, since, until, bucket_s=b) for slo in slos
                      for b in (60, 3600)]  # fmt: skip
    for b in (60, 90, 3600):
        out.append(store.latency_percentiles(since, until, bucket_s=b))
        out.append(store.close_codes(since, until, bucket_s=b))
        out.append(store.db_timings_between(since, until, bucket_s=b))
    out.append(store.rounds_between(since, until))
    out.append(store.sessions_between(since, until))
    return out


def test_0004_lists_the_labels_of_existing_rounds_and_drops_the_duplicate_indexes(
    store_url: str,
) -> None:
    with ResultStore(engine.make_parent_folder(store_url)) as store:
        store.upgrade("0003")
        legacy_insert(store_url, upgrade_path_rounds(), minutes=True)
        timing = (DbTiming("thread_create", 12.0, None, True),)
        second = RoundResult(
            "x1", "login", "ws://b/ws", "us-1", T0, T0, "passed", db_timings=timing
        )
        legacy_insert(store_url, [second], minutes=True)
        store.upgrade()
        assert store.labels() == {
            "probes": ["chat", "login"],
            "targets": ["ws://a/ws", "ws://b/ws"],
            "runners": ["eu-1", "us-1"],
        }
    check = create_engine(store_url)
    try:
        found = inspect(check)
        for table in ("sessions", "rounds", "db_timings"):
            names = {ix["name"] for ix in found.get_indexes(table)}
            assert f"ix_{table}_started_at" not in names
            assert f"ix_{table}_window" in names
    finally:
        check.dispose()


def test_0012_gives_stored_sessions_profiles_md_total_ms(store_url: str) -> None:
    """Rows written before 0012 held connect-to-close in ``total_ms``; after it they hold
    PROFILES.md's figure (chat sent -> the done that passed), None where none came."""
    done = SessionResult(
        "t1",
        "chat",
        "ws://a/ws",
        "eu-1",
        "u1",
        "header",
        T0,
        connect_ms=3.0,
        completion_ms=900.0,
        total_ms=1250.0,
        outcome="ok",
    )
    cut = SessionResult("t1", "chat", "ws://a/ws", "eu-1", "u2", "header", T0,
                        connect_ms=3.0, total_ms=4000.0, close_code=1011)  # fmt: skip
    timing = (DbTiming("thread_create", 12.0, None, True),)
    old = RoundResult("t1", "chat", "ws://a/ws", "eu-1", T0, T0, "failed",
                      sessions=(done, cut), db_timings=timing)  # fmt: skip
    with ResultStore(engine.make_parent_folder(store_url)) as store:
        store.upgrade("0011")
        legacy_insert(store_url, [old], minutes=True)
        store.upgrade()
        stored = {s.user_id: s.total_ms for s in store.round("t1").sessions}
    assert stored == {"u1": 900.0, "u2": None}
