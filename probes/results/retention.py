"""Retention: the rollups' age limit, and giving the space of pruned rows back.

Raw rows (sessions with their events, memory samples, DB timings) go after
``retention`` (``writes.prune_older_than``). Round rows, the per-minute session
rollup, the SLI cache and the histograms are small per minute and feed the long
ranges, so they stay until ``rollup_retention`` (``prune_rollups_older_than``).
Both delete in short batches so that probes can write in between.

Space: SQLite files are created with ``auto_vacuum = INCREMENTAL`` (``engine``),
so ``reclaim_space`` hands the free pages back to the file system a few
thousand at a time. A file created before that (``auto_vacuum = NONE``) gets a
single ``VACUUM`` once a quarter of it is free pages, which also switches it to
incremental from then on. PostgreSQL gets ``VACUUM (ANALYZE)`` of the pruned
tables: the space is reused and the planner knows the new sizes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table, delete, func, select
from sqlalchemy.engine import Engine

from probes.results.schema import (
    epoch_minute,
    histogram_table,
    rounds,
    session_rollup,
    session_rollup_day,
    session_rollup_hour,
    sli_day_cache,
    sli_day_coverage,
    sli_hour_cache,
    sli_hour_coverage,
    sli_minute_cache,
    sli_minute_coverage,
    to_utc,
)

# Pages freed per write transaction by PRAGMA incremental_vacuum (4 KiB each).
VACUUM_PAGES = 4096
# A NONE-mode SQLite file is vacuumed whole once this share of it is free.
FREE_SHARE_FOR_VACUUM = 0.25
_INCREMENTAL = 2  # PRAGMA auto_vacuum value
# Tables a prune empties rows of (VACUUM ANALYZE on PostgreSQL afterwards).
PRUNED_TABLES = (
    "sessions",
    "session_events",
    "memory_samples",
    "db_timings",
    "rounds",
    "session_rollup_minute",
    "session_rollup_hour",
    "session_rollup_day",
    "sli_minute_cache",
    "sli_hour_cache",
    "sli_minute_coverage",
    "sli_hour_coverage",
    "sli_day_cache",
    "sli_day_coverage",
    "histograms",
)
DAY_MINUTES = 1440


def prune_rollups_older_than(writer: Engine, cutoff: datetime, batch_size: int) -> int:
    """Delete rounds, minute rollups and SLI cache rows before ``cutoff``; returns the count.

    A round deleted here takes any raw rows it still had with it (foreign keys
    cascade), so ``cutoff`` should be older than the raw cutoff.
    """
    cutoff = to_utc(cutoff)
    minute = epoch_minute(cutoff)
    r = rounds.c
    deleted = 0
    while True:
        with writer.begin() as conn:
            old = select(r.run_id).where(r.started_at < cutoff).limit(batch_size)
            ids = conn.execute(old).scalars().all()
            if not ids:
                break
            deleted += conn.execute(delete(rounds).where(r.run_id.in_(ids))).rowcount
    # The hour and day coverage too: an hour (a day) is covered only while all its minutes
    # are, so an hour or a day the cutoff cuts goes with its first minute.
    minute_tables = (
        session_rollup, sli_minute_cache, sli_minute_coverage, sli_hour_coverage,
        sli_day_coverage,
    )  # fmt: skip
    for table in (*minute_tables, histogram_table):
        deleted += _delete_minutes_before(writer, table, minute)
    # An hour row goes once its whole hour is before the cutoff (it keeps the
    # counts of the hour's pruned minutes until then).
    for table in (session_rollup_hour, sli_hour_cache):
        deleted += _delete_minutes_before(writer, table, minute // 60 * 60)
    for table in (session_rollup_day, sli_day_cache):
        deleted += _delete_minutes_before(writer, table, minute // DAY_MINUTES * DAY_MINUTES)
    return deleted


def _delete_minutes_before(writer: Engine, table: Table, minute: int) -> int:
    """Delete rows of ``table`` whose ``minute`` is before ``minute``, a day per transaction."""
    deleted = 0
    with writer.connect() as conn:
        oldest = conn.execute(select(func.min(table.c.minute))).scalar_one()
    if oldest is None:
        return 0
    for start in range(int(oldest), minute, DAY_MINUTES):
        with writer.begin() as conn:
            end = min(minute, start + DAY_MINUTES)
            deleted += conn.execute(delete(table).where(table.c.minute < end)).rowcount
    return deleted


def reclaim_space(writer: Engine) -> None:
    """Give the space of deleted rows back (SQLite) or make it reusable (PostgreSQL)."""
    if writer.dialect.name == "postgresql":
        autocommit = writer.execution_options(isolation_level="AUTOCOMMIT")
        with autocommit.connect() as conn:
            for name in PRUNED_TABLES:
                conn.exec_driver_sql(f"VACUUM (ANALYZE) {name}")
        return
    with writer.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA auto_vacuum").scalar_one()
        free = conn.exec_driver_sql("PRAGMA freelist_count").scalar_one()
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
    if mode == _INCREMENTAL:
        while free > 0:
            with writer.begin() as conn:  # a short write transaction per chunk
                # Every row of the pragma must be stepped through, or it frees one page.
                sqlite3 = conn.connection.driver_connection
                sqlite3.execute(f"PRAGMA incremental_vacuum({VACUUM_PAGES})").fetchall()  # type: ignore[union-attr]
                left = conn.exec_driver_sql("PRAGMA freelist_count").scalar_one()
            if left >= free:
                return
            free = left
        return
    if pages and free / pages >= FREE_SHARE_FOR_VACUUM:
        raw = writer.raw_connection()  # VACUUM cannot run inside a transaction
        try:
            raw.driver_connection.execute("PRAGMA auto_vacuum=INCREMENTAL")  # type: ignore[union-attr]
            raw.driver_connection.execute("VACUUM")  # type: ignore[union-attr]
        finally:
            raw.close()


def stored_bytes(engine: Engine) -> int:
    """Bytes of every table and index (SQLite: used pages; PostgreSQL: the schema's tables)."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
            free = conn.exec_driver_sql("PRAGMA freelist_count").scalar_one()
            size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
            return int((pages - free) * size)
        query = (
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'r' AND n.nspname = current_schema()"
        )
        return int(conn.exec_driver_sql(query).scalar_one())
