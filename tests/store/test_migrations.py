"""The Alembic revisions build the schema the store's tables describe, idempotently."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, make_url

from probes.records import RoundResult, SessionResult
from probes.results import METADATA, ResultStore

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TABLES = {
    "alembic_version",
    "rounds",
    "sessions",
    "session_events",
    "memory_samples",
    "db_timings",
    "annotations",
    "session_rollup_minute",
}


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
        assert store.schema_version() == "0001"
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
        assert store.schema_version() == "0001"
        assert store.round("r1") == a_round()
