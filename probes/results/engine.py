"""Connections: the SQLAlchemy engines, SQLite's pragmas, and the Alembic migrations."""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, create_engine, event, make_url, text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import ArgumentError

from probes.errors import StoreUrlError

# probes/migrations, next to this package (pyproject ships it as package data).
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# The WAL is truncated back to this size after a checkpoint (it grows past it only
# while a long reader keeps a checkpoint from finishing).
JOURNAL_SIZE_LIMIT = 8 * 1024 * 1024
PG_CONNECT_TIMEOUT_S = 10


def connect(
    url: str | URL, busy_timeout_ms: int, *, read_only: bool = False, max_pages: int | None = None
) -> tuple[Engine, Engine]:
    """The reading engine and the writing one (same pool; writes BEGIN IMMEDIATE on SQLite).

    ``read_only`` connections cannot write at all (SQLite ``query_only``, PostgreSQL
    read-only transactions) and never change the journal mode. On PostgreSQL a lock
    wait ends after ``busy_timeout_ms`` as SQLite's does, so a stalled lock is an
    error the writer can retry, never an endless wait. ``max_pages`` caps an SQLite
    file's size (SQLite's ``max_page_count``): the tests' stand-in for a full disk.
    """
    parsed = make_url(url)
    args = {"connect_timeout": PG_CONNECT_TIMEOUT_S} if _is_postgres(parsed) else {}
    engine = create_engine(parsed, pool_pre_ping=True, connect_args=args)
    if engine.dialect.name == "sqlite":
        _sqlite_hooks(engine, busy_timeout_ms, read_only, max_pages)
    elif engine.dialect.name == "postgresql":
        _postgres_hooks(engine, busy_timeout_ms, read_only)
    return engine, engine.execution_options(slawatch_write=True)


def _is_postgres(url: URL) -> bool:
    return url.get_backend_name() == "postgresql" and url.get_driver_name() == "psycopg"


def checkpoint(writer: Engine) -> tuple[int, int, int] | None:
    """Checkpoint SQLite's WAL and truncate it (None on other databases).

    Returns (busy, wal pages, pages checkpointed): busy is 1 when a reader kept the
    checkpoint from finishing; the next one catches up.
    """
    if writer.dialect.name != "sqlite":
        return None
    raw = writer.raw_connection()  # outside any transaction: a checkpoint cannot run in one
    try:
        cursor = raw.cursor()
        row = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        cursor.close()
    finally:
        raw.close()
    return int(row[0]), int(row[1]), int(row[2])


def sqlite_file(url: str) -> Path | None:
    """The file behind an SQLite URL; None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def check_url(url: str) -> None:
    """Raise ``ValueError`` unless ``url`` parses as an SQLAlchemy URL."""
    try:
        make_url(url)
    except ArgumentError:
        raise ValueError(f"not an SQLAlchemy URL: {url!r}") from None


def safe_url(url: str) -> str:
    """``url`` with any password hidden, for showing on a page or in a log."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a valid URL)"


def make_parent_folder(url: str | URL) -> URL:
    """The parsed URL, after creating the SQLite file's folder (if it is a file)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return parsed


# PostgreSQL transaction advisory locks (``advisory_lock``).
MIGRATION_LOCK = 74657310


def advisory_lock(conn: Connection, key: int) -> None:
    """Take PostgreSQL's advisory lock ``key`` until the transaction ends, for this store
    only: keyed by the schema too (``current_schema()``), so a store in another schema of
    the database neither waits on it nor holds it up. (One key alone is one lock for every
    schema of the server.)"""
    conn.execute(text(f"SELECT pg_advisory_xact_lock({int(key)}, hashtext(current_schema()))"))


def upgrade(writer: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations up to ``revision`` in one write transaction (idempotent)."""
    with writer.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several runners may start at once against one database.
            advisory_lock(conn, MIGRATION_LOCK)
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        before = _revision(conn)
        if before is not None and not known_revision(before):
            raise StoreUrlError(
                f"results store {writer.url.render_as_string(hide_password=True)} is at "
                f"schema revision {before}, which "
                f"this slawatch does not know (it writes revision {head_revision()}): a "
                "newer slawatch has migrated it; upgrade this one to write to it"
            )
        command.upgrade(config, revision)
        after = _revision(conn)
        if conn.dialect.name == "postgresql" and after != before:
            # Fresh statistics: before ANALYZE, round_detail planned 21x slower than SQLite.
            conn.execute(text("ANALYZE"))


@functools.cache
def _scripts() -> ScriptDirectory:
    """This code's migrations, read once per process (each read parses every revision file)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def known_revision(revision: str) -> bool:
    """Whether ``revision`` is one of this code's migrations (not one a newer slawatch made)."""
    try:
        return _scripts().get_revision(revision) is not None
    except CommandError:
        return False


def head_revision() -> str:
    """The newest schema revision this code knows (what ``upgrade`` migrates to)."""
    head = _scripts().get_current_head()
    assert head is not None
    return head


def schema_version(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None before any migration)."""
    with engine.connect() as conn:
        return _revision(conn)


def _revision(conn: Connection) -> str | None:
    # Alembic builds a new `alembic_version` Table for each MigrationContext, so each read
    # was a new statement kept in the engine's compiled cache: the dashboard's status check
    # (every 5 s) filled it with hundreds of them (its memory, issue 10.9). Not cached.
    uncached = conn.execution_options(compiled_cache=None)
    return MigrationContext.configure(uncached).get_current_revision()


def _postgres_hooks(engine: Engine, busy_timeout_ms: int, read_only: bool) -> None:
    """``lock_timeout`` on every connection, and read-only transactions for readers."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET lock_timeout = {int(busy_timeout_ms)}")
        if read_only:
            cursor.execute("SET default_transaction_read_only = on")
        cursor.close()
        dbapi_connection.commit()  # else the pool's reset rolls the SETs back


def _sqlite_hooks(
    engine: Engine, busy_timeout_ms: int, read_only: bool, max_pages: int | None
) -> None:
    """WAL (bounded on disk), busy timeout, foreign keys, and BEGIN IMMEDIATE for writes.

    sqlite3's own BEGIN handling is switched off so that SQLAlchemy's ``begin``
    event decides: writers take the write lock up front (no deadlock-prone lock
    upgrade mid-transaction), readers begin deferred and never wait in WAL mode.
    A read-only connection is ``query_only`` and leaves the journal mode alone
    (setting it can take the write lock).

    The page cache (32 MiB, for the sorter of 30-day aggregates) is given back
    each time a connection returns to the pool (``PRAGMA shrink_memory``): a
    writer's cache is never invalidated by its own commits, so in a long
    ``slawatch run`` each pooled connection's cache grew with the database, in
    a straight line up to 32 MiB (about 20 MB/h in the soak, issue 10.9).
    A reader's is dropped anyway whenever another connection wrote; the next
    use reads its pages back from the OS's file cache.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if read_only:
            cursor.execute("PRAGMA query_only=ON")
        else:
            if cursor.execute("PRAGMA page_count").fetchone()[0] == 0:
                # A new file: give pruned space back (retention.reclaim_space). Only
                # possible before the first table; on an existing file it would
                # change nothing but still wait for the write lock.
                cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
        if max_pages is not None:
            cursor.execute(f"PRAGMA max_page_count={int(max_pages)}")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # 30-day aggregates sort ~10^5-10^6 rows: keep the sorter off temp files.
        cursor.execute("PRAGMA cache_size=-32768")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is None:  # invalidated: already closed
            return
        # a connection that cannot run it is discarded by the pool's own checks
        with contextlib.suppress(sqlite3.Error):
            dbapi_connection.execute("PRAGMA shrink_memory")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("slawatch_write", False) and not read_only
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
