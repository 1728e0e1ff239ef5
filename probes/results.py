"""The results store: the only module that knows SQL.

SQLAlchemy Core over SQLite (a file, WAL) or PostgreSQL (``postgresql+psycopg``),
the same statements on both; the schema is created by the Alembic revisions in
``probes/migrations``. Records in (``probes.records``), records or plain dicts out.

Conventions:

- Every time is stored and returned as an aware UTC ``datetime``; naive ones are
  rejected. A window ``since, until`` is half-open, ``[since, until)``.
- Buckets are aligned to the Unix epoch: a row at ``t`` falls in the bucket that
  starts at ``floor(epoch(t) / bucket_s) * bucket_s``.
- Rows meant for export (``rounds_between``, ``sessions_between``) are JSON-ready:
  times are ISO 8601 strings ending in ``Z``. The dashboard aggregates return
  ``datetime`` values.
- Rollup: ``session_rollup_minute`` holds per-minute counts of the count-based
  session SLIs, written in the same transaction as the round, and survives
  ``prune_older_than``. Latency SLIs and percentiles stay on the raw ``sessions``
  rows (any threshold, exact answers), so they cover the retention period only.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    TypeDecorator,
    and_,
    case,
    create_engine,
    delete,
    event,
    extract,
    func,
    insert,
    literal_column,
    make_url,
    or_,
    select,
    text,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Engine, Row
from sqlalchemy.exc import SQLAlchemyError

from probes.config import SloSettings
from probes.records import (
    INTERNAL_ERROR_CLOSE,
    Annotation,
    AuthCheck,
    DbTiming,
    Event,
    Filters,
    MemorySample,
    RoundResult,
    SessionResult,
    SliBucket,
)

NO_FILTERS = Filters()
# Sessions of rounds in these states are evidence but not SLI events.
UNCOUNTED_STATUSES = ("skipped", "error")
_ROUND_STATUSES = ("passed", "failed", "error", "skipped")
_MIGRATIONS = Path(__file__).with_name("migrations")


class StoreError(Exception):
    """Base of the errors the results store raises."""


class RoundNotSaved(StoreError):
    """A round was not stored (duplicate run id, constraint, naive time, lost lock).

    Nothing of it was written: a round is stored whole or not at all.
    """


class UtcDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that accepts only aware values and returns aware UTC.

    SQLite keeps no offset, so UTC is stored bare and the offset added back on read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = _utc(value)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()}: times must be timezone-aware")
    return value.astimezone(UTC)


# --- schema (must match probes/migrations/versions; a test compares the two) ------

METADATA = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
_ID = BigInteger().with_variant(Integer(), "sqlite")
_TS = UtcDateTime


def _fk(column: str) -> ForeignKey:
    return ForeignKey(column, ondelete="CASCADE")


rounds = Table(
    "rounds",
    METADATA,
    Column("run_id", String, primary_key=True),
    Column("probe", String, nullable=False),
    Column("target", String, nullable=False),
    Column("runner", String, nullable=False),
    Column("started_at", _TS, nullable=False),
    Column("finished_at", _TS, nullable=False),
    Column("status", String, nullable=False),
    Column("reason", Text, nullable=False),
    Column("memory_baseline_mb", Float),
    Column("memory_peak_mb", Float),
    Column("memory_after_mb", Float),
    Column("memory_growth_mb", Float),
    Column("memory_source", String, nullable=False),
    Column("auth_http_status", Integer),
    Column("auth_close_code", Integer),
    Column("auth_ok", Boolean),  # NULL: the round made no auth check
    Column("auth_error", Text),
    Column("sessions_total", Integer, nullable=False),
    Column("sessions_failed", Integer, nullable=False),
    CheckConstraint("status IN ('passed', 'failed', 'error', 'skipped')", name="status"),
    Index(None, "started_at"),
    Index(None, "probe", "started_at"),
)
sessions = Table(
    "sessions",
    METADATA,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("run_id", String, _fk("rounds.run_id"), nullable=False, index=True),
    Column("probe", String, nullable=False),
    Column("target", String, nullable=False),
    Column("runner", String, nullable=False),
    Column("user_id", String, nullable=False),
    Column("auth_mode", String, nullable=False),
    Column("started_at", _TS, nullable=False),
    Column("connect_ms", Float),
    Column("first_event_ms", Float),
    Column("completion_ms", Float),
    Column("total_ms", Float),
    Column("close_code", Integer),
    Column("close_reason", Text, nullable=False),
    Column("sent_close_code", Integer),
    Column("http_status", Integer),
    Column("missing_events", Text, nullable=False),  # comma-joined event types
    Column("order_ok", Boolean, nullable=False),
    Column("seq_gaps", Integer, nullable=False),
    Column("foreign_events", Integer, nullable=False),
    Column("agent_run_id", String),
    Column("db_ms", Text, nullable=False),  # JSON object
    Column("outcome", String, nullable=False),
    Column("reason", String),
    Column("error", Text, nullable=False),
    Column("complete", Boolean, nullable=False),
    CheckConstraint("outcome IN ('ok', 'failed')", name="outcome"),
    Index(None, "started_at"),
    Index(None, "probe", "started_at"),
    Index(None, "target", "started_at"),
    Index(None, "runner", "started_at"),
)
session_events = Table(
    "session_events",
    METADATA,
    Column("session_id", _ID, _fk("sessions.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("type", String, nullable=False),
    Column("ms", Float, nullable=False),
    Column("seq", Integer),
    Column("server_ts", Float),
    Column("foreign", Boolean, nullable=False),
)
memory_samples = Table(
    "memory_samples",
    METADATA,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("run_id", String, _fk("rounds.run_id"), nullable=False, index=True),
    Column("at", _TS, nullable=False, index=True),
    Column("rss_mb", Float, nullable=False),
)
db_timings = Table(
    "db_timings",
    METADATA,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("run_id", String, _fk("rounds.run_id"), nullable=False, index=True),
    Column("started_at", _TS, nullable=False, index=True),  # the round's start
    Column("operation", String, nullable=False),
    Column("client_ms", Float),
    Column("server_ms", Float),
    Column("ok", Boolean, nullable=False),
    Column("error", Text, nullable=False),
)
annotation_table = Table(
    "annotations",
    METADATA,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("kind", String, nullable=False),
    Column("start", _TS, nullable=False, index=True),
    Column("end", _TS),
    Column("text", Text, nullable=False),
    Column("target", String),
    Column("created_at", _TS, nullable=False, server_default=text("CURRENT_TIMESTAMP")),
    CheckConstraint("kind IN ('deploy', 'incident', 'maintenance')", name="kind"),
)
session_rollup = Table(
    "session_rollup_minute",
    METADATA,
    Column("bucket", _TS, primary_key=True),  # start of the minute the sessions started in
    Column("probe", String, primary_key=True),
    Column("target", String, primary_key=True),
    Column("runner", String, primary_key=True),
    Column("sessions", Integer, nullable=False),
    Column("ok", Integer, nullable=False),
    Column("complete_in_order", Integer, nullable=False),
    Column("not_1011", Integer, nullable=False),
    Column("no_foreign", Integer, nullable=False),
    Column("connected", Integer, nullable=False),
    Index(None, "probe", "bucket"),
    Index(None, "target", "bucket"),
)

_s = sessions.c
_CONNECTED = and_(_s.http_status.is_(None), _s.connect_ms.is_not(None))
# SLI -> (good condition on a raw session, the rollup column counting the same).
_SESSION_COUNT_SLIS: dict[str, tuple[ColumnElement[bool], Column[Any]]] = {
    "session_success": (_s.outcome == "ok", session_rollup.c.ok),
    "event_completeness": (
        and_(_s.complete, _s.order_ok),
        session_rollup.c.complete_in_order,
    ),
    "no_internal_errors": (
        or_(_s.close_code.is_(None), _s.close_code != INTERNAL_ERROR_CLOSE),
        session_rollup.c.not_1011,
    ),
    "isolation": (_s.foreign_events == 0, session_rollup.c.no_foreign),
}
_LATENCY_SLIS = {"first_event_latency": _s.first_event_ms, "completion_latency": _s.completion_ms}


def _sqlite_hooks(engine: Engine, busy_timeout_ms: int) -> None:
    """WAL, busy timeout, foreign keys, and BEGIN IMMEDIATE for writes.

    sqlite3's own BEGIN handling is switched off so that SQLAlchemy's ``begin``
    event decides: writers take the write lock up front (no deadlock-prone lock
    upgrade mid-transaction), readers begin deferred and never wait in WAL mode.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # 30-day aggregates sort ~10^5-10^6 rows: keep the sorter off temp files.
        cursor.execute("PRAGMA cache_size=-32768")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("slawatch_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class ResultStore:
    """Stores probe records and answers the queries of the SLO maths and the dashboard.

    ``ResultStore(url)`` connects; ``ResultStore.open(url)`` also creates the
    SQLite file's folder and migrates the schema to the newest revision.
    """

    def __init__(self, url: str | URL, *, busy_timeout_ms: int = 5000) -> None:
        self.url = make_url(url)
        self._engine = create_engine(self.url, pool_pre_ping=True)
        self._sqlite = self._engine.dialect.name == "sqlite"
        if self._sqlite:
            _sqlite_hooks(self._engine, busy_timeout_ms)
        self._writer = self._engine.execution_options(slawatch_write=True)

    @classmethod
    def open(cls, url: str | URL, *, busy_timeout_ms: int = 5000) -> Self:
        """Connect, create the SQLite file's parent folder, and migrate to the newest schema."""
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        store = cls(parsed, busy_timeout_ms=busy_timeout_ms)
        try:
            store.upgrade()
        except BaseException:
            store.close()
            raise
        return store

    def upgrade(self) -> None:
        """Run the Alembic migrations to head, in one write transaction (idempotent)."""
        with self._writer.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Several runners may start at once against one database.
                conn.execute(text("SELECT pg_advisory_xact_lock(74657310)"))
            config = Config()
            config.set_main_option("script_location", str(_MIGRATIONS))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def schema_version(self) -> str | None:
        """The Alembic revision the database is at (None before any migration)."""
        with self._engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- writes -------------------------------------------------------------------

    def save_round(self, r: RoundResult) -> None:
        """Store a round with its sessions, events, samples and timings in one transaction.

        The minute rollup is updated in the same transaction. Raises
        ``RoundNotSaved`` (and writes nothing) on any failure, e.g. a duplicate run id.
        """
        try:
            with self._writer.begin() as conn:
                conn.execute(insert(rounds), [_round_row(r)])
                if r.sessions:
                    ids = conn.execute(
                        insert(sessions).returning(_s.id, sort_by_parameter_order=True),
                        [_session_row(s) for s in r.sessions],
                    ).scalars()
                    events = [
                        _event_row(sid, i, e)
                        for sid, s in zip(ids, r.sessions, strict=True)
                        for i, e in enumerate(s.events)
                    ]
                    if events:
                        conn.execute(insert(session_events), events)
                    if r.status not in UNCOUNTED_STATUSES:
                        self._add_to_rollup(conn, r.sessions)
                if r.memory_samples:
                    conn.execute(
                        insert(memory_samples),
                        [
                            {"run_id": r.run_id, "at": m.at, "rss_mb": m.rss_mb}
                            for m in r.memory_samples
                        ],
                    )
                if r.db_timings:
                    conn.execute(insert(db_timings), [_timing_row(r, t) for t in r.db_timings])
        except (SQLAlchemyError, ValueError) as exc:
            cause = getattr(exc, "orig", None) or exc
            raise RoundNotSaved(f"round {r.run_id!r} not saved: {cause}") from exc

    def _add_to_rollup(self, conn: Connection, items: Sequence[SessionResult]) -> None:
        counts: dict[tuple[datetime, str, str, str], Counter[str]] = {}
        for s in items:
            minute = _utc(s.started_at).replace(second=0, microsecond=0)
            c = counts.setdefault((minute, s.probe, s.target, s.runner), Counter())
            c["sessions"] += 1
            c["ok"] += s.outcome == "ok"
            c["complete_in_order"] += s.complete and s.order_ok
            c["not_1011"] += s.close_code != INTERNAL_ERROR_CLOSE
            c["no_foreign"] += s.foreign_events == 0
            c["connected"] += s.http_status is None and s.connect_ms is not None
        names = ("sessions", "ok", "complete_in_order", "not_1011", "no_foreign", "connected")
        upsert = (sqlite if self._sqlite else postgresql).insert(session_rollup)
        stmt = upsert.on_conflict_do_update(
            index_elements=["bucket", "probe", "target", "runner"],
            set_={n: session_rollup.c[n] + upsert.excluded[n] for n in names},
        )
        # Sorted keys: concurrent writers on PostgreSQL lock rows in the same order.
        rows = [
            {"bucket": k[0], "probe": k[1], "target": k[2], "runner": k[3]}
            | {n: c[n] for n in names}
            for k, c in sorted(counts.items())
        ]
        conn.execute(stmt, rows)

    def add_annotation(self, a: Annotation) -> int:
        """Store a deploy/incident/maintenance note; returns its id."""
        if a.end is not None and a.end < a.start:
            raise ValueError("annotation end is before its start")
        row = {"kind": a.kind, "start": a.start, "end": a.end, "text": a.text, "target": a.target}
        with self._writer.begin() as conn:
            return int(
                conn.execute(
                    insert(annotation_table).returning(annotation_table.c.id), row
                ).scalar_one()
            )

    def prune_older_than(self, cutoff: datetime, *, batch_size: int = 500) -> int:
        """Delete raw sessions (with events), memory samples and DB timings before ``cutoff``.

        Works in short batches so probes can write in between. Round rows and the
        minute rollup are kept. Returns the number of rows deleted.
        """
        cutoff = _utc(cutoff)
        deleted = 0
        for table, at, children in (
            (sessions, _s.started_at, session_events.c.session_id),
            (memory_samples, memory_samples.c.at, None),
            (db_timings, db_timings.c.started_at, None),
        ):
            while True:
                with self._writer.begin() as conn:
                    query = select(table.c.id).where(at < cutoff).limit(batch_size)
                    ids = conn.execute(query).scalars().all()
                    if not ids:
                        break
                    if children is not None:
                        deleted += conn.execute(
                            delete(children.table).where(children.in_(ids))
                        ).rowcount
                    deleted += conn.execute(delete(table).where(table.c.id.in_(ids))).rowcount
        return deleted

    # --- records back ---------------------------------------------------------------

    def round(self, run_id: str) -> RoundResult | None:
        """The stored round, rebuilt whole (equal to what was saved, unless pruned)."""
        with self._engine.connect() as conn:
            head = conn.execute(select(rounds).where(rounds.c.run_id == run_id)).one_or_none()
            if head is None:
                return None
            rows = conn.execute(select(sessions).where(_s.run_id == run_id).order_by(_s.id)).all()
            events: dict[int, list[Event]] = {row.id: [] for row in rows}
            query = (
                select(session_events)
                .join(sessions)
                .where(_s.run_id == run_id)
                .order_by(session_events.c.session_id, session_events.c.position)
            )
            for e in conn.execute(query):
                events[e.session_id].append(Event(e.type, e.ms, e.seq, e.server_ts, e.foreign))
            samples = conn.execute(
                select(memory_samples)
                .where(memory_samples.c.run_id == run_id)
                .order_by(memory_samples.c.id)
            ).all()
            timings = conn.execute(
                select(db_timings).where(db_timings.c.run_id == run_id).order_by(db_timings.c.id)
            ).all()
        auth = None
        if head.auth_ok is not None:
            auth = AuthCheck(
                head.auth_http_status, head.auth_close_code, head.auth_ok, head.auth_error
            )
        return RoundResult(
            run_id=head.run_id,
            probe=head.probe,
            target=head.target,
            runner=head.runner,
            started_at=head.started_at,
            finished_at=head.finished_at,
            status=head.status,
            reason=head.reason,
            sessions=tuple(_session_record(row, events[row.id]) for row in rows),
            auth_check=auth,
            db_timings=tuple(
                DbTiming(t.operation, t.client_ms, t.server_ms, t.ok, t.error) for t in timings
            ),
            memory_samples=tuple(MemorySample(m.at, m.rss_mb) for m in samples),
            memory_source=head.memory_source,
        )

    def rounds_between(
        self,
        since: datetime,
        until: datetime,
        filters: Filters = NO_FILTERS,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Round summary rows (no sessions), newest first, times as ISO strings."""
        query = (
            select(rounds)
            .where(*_window(rounds, rounds.c.started_at, since, until, filters))
            .order_by(rounds.c.started_at.desc(), rounds.c.run_id)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [
                {k: _iso(v) if isinstance(v, datetime) else v for k, v in row._mapping.items()}
                for row in conn.execute(query)
            ]

    def iter_sessions(
        self,
        since: datetime,
        until: datetime,
        filters: Filters = NO_FILTERS,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Export rows, oldest first (then by user), read in chunks; see ``sessions_between``.

        The iterator holds one connection (and, on SQLite, one read snapshot)
        until it is exhausted or closed.
        """
        query = (
            select(_s.id, *(_s[k] for k in _EXPORT_COLUMNS))
            .where(*_window(sessions, _s.started_at, since, until, filters))
            .order_by(_s.started_at, _s.user_id, _s.id)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            result = conn.execution_options(yield_per=1000).execute(query)
            for chunk in result.partitions():
                types: dict[int, list[str]] = {row[0]: [] for row in chunk}
                event_query = (
                    select(session_events.c.session_id, session_events.c.type)
                    .where(session_events.c.session_id.in_(list(types)))
                    .order_by(session_events.c.session_id, session_events.c.position)
                )
                for sid, kind in conn.execute(event_query):
                    types[sid].append(kind)
                for row in chunk:
                    yield _export_row(row, types[row[0]])

    def sessions_between(
        self,
        since: datetime,
        until: datetime,
        filters: Filters = NO_FILTERS,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Flat session rows for the export, sorted by started_at then user_id.

        Keys: run_id, probe, target, runner, user_id, started_at (ISO 8601, ``Z``),
        connect_ms, first_event_ms, total_ms, close_code, close_reason, http_status,
        events (types in arrival order), missing_events, order_ok, foreign_events,
        outcome, reason, error.
        """
        return list(self.iter_sessions(since, until, filters, limit))

    # --- SLO maths --------------------------------------------------------------------

    def sli_counts(
        self,
        slo: SloSettings,
        since: datetime,
        until: datetime,
        filters: Filters = NO_FILTERS,
        bucket_s: int = 60,
    ) -> list[SliBucket]:
        """Good and valid events of ``slo.sli`` per epoch-aligned bucket, counted in SQL.

        Buckets without valid events are left out. ``slo.probe`` and ``filters``
        both apply. Sessions of skipped or error rounds are not counted.

        ===================  =====================================  ================================
        SLI                  valid                                  good
        ===================  =====================================  ================================
        session_success      every session                          outcome = 'ok'
        event_completeness   every session                          complete AND order_ok
        no_internal_errors   every session                          close_code IS NULL OR <> 1011
        isolation            every session                          foreign_events = 0
        first_event_latency  sessions with http_status IS NULL      first_event_ms IS NOT NULL AND
                             AND connect_ms IS NOT NULL             first_event_ms <= threshold_ms
        completion_latency   as first_event_latency                 completion_ms IS NOT NULL AND
                                                                    completion_ms <= threshold_ms
        memory_growth        rounds with memory_growth_mb NOT NULL  memory_growth_mb <= threshold_mb
        db_latency           db_timings of slo.operation            ok AND COALESCE(server_ms,
                                                                    client_ms) <= threshold_ms
        auth_rejection       rounds with an auth check              auth_ok
        ===================  =====================================  ================================

        Session rows are bucketed by the session's start, round rows and DB timings
        by the round's start. The four count-based session SLIs read whole minutes
        from the rollup (bucket_s a multiple of 60, no ``run_ids`` filter) and the
        partial minutes at either edge from the raw rows: the same answer, faster,
        and still available after pruning.
        """
        since, until = _utc(since), _utc(until)
        if bucket_s < 1:
            raise ValueError("bucket_s must be a positive number of seconds")
        if slo.probe is not None:
            filters = _also_probe(filters, slo.probe)
        if slo.sli in _SESSION_COUNT_SLIS:
            return self._session_count_sli(slo.sli, since, until, filters, bucket_s)
        if slo.sli in _LATENCY_SLIS:
            value = _LATENCY_SLIS[slo.sli]
            good = and_(value.is_not(None), value <= _threshold(slo.threshold_ms, slo))
            query = _counted_sessions(since, until, filters).where(_CONNECTED)
            return self._buckets(query, _s.started_at, good, bucket_s)
        if slo.sli == "memory_growth":
            growth = rounds.c.memory_growth_mb
            good = growth <= _threshold(slo.threshold_mb, slo)
            query = (
                select()
                .select_from(rounds)
                .where(
                    *_window(rounds, rounds.c.started_at, since, until, filters),
                    growth.is_not(None),
                )
            )
            return self._buckets(query, rounds.c.started_at, good, bucket_s)
        if slo.sli == "auth_rejection":
            query = (
                select()
                .select_from(rounds)
                .where(
                    *_window(rounds, rounds.c.started_at, since, until, filters),
                    rounds.c.auth_ok.is_not(None),
                )
            )
            return self._buckets(query, rounds.c.started_at, rounds.c.auth_ok, bucket_s)
        if slo.sli == "db_latency":
            t = db_timings.c
            ms = func.coalesce(t.server_ms, t.client_ms)
            good = and_(t.ok, ms <= _threshold(slo.threshold_ms, slo))
            query = _timings(since, until, filters)
            if slo.operation is not None:
                query = query.where(t.operation == slo.operation)
            return self._buckets(query, t.started_at, good, bucket_s)
        raise ValueError(f"unknown SLI {slo.sli!r}")

    def _session_count_sli(
        self, sli: str, since: datetime, until: datetime, filters: Filters, bucket_s: int
    ) -> list[SliBucket]:
        good, rolled = _SESSION_COUNT_SLIS[sli]
        first, last = _ceil_minute(since), until.replace(second=0, microsecond=0)
        if filters.run_ids is not None or bucket_s % 60 or first >= last:
            return self._buckets(
                _counted_sessions(since, until, filters), _s.started_at, good, bucket_s
            )
        r = session_rollup.c
        where = [r.bucket >= first, r.bucket < last, *_attribute_filters(session_rollup, filters)]
        rolled_up = select(
            self._bucket(r.bucket, bucket_s).label("b"), rolled.label("g"), r.sessions.label("v")
        ).where(*where)
        edges = [(since, first), (last, until)]
        queries = [rolled_up] + [
            self._bucket_select(_counted_sessions(a, b, filters), _s.started_at, good, bucket_s)
            for a, b in edges
            if a < b
        ]
        totals: Counter[int] = Counter()
        valid: Counter[int] = Counter()
        with self._engine.connect() as conn:  # one connection: one snapshot on SQLite
            for query in queries:
                for b, g, v in _bucket_rows(conn, query):
                    totals[b] += g
                    valid[b] += v
        return [_sli_bucket(b, totals[b], valid[b]) for b in sorted(valid) if valid[b]]

    def _buckets(
        self, query: Select[Any], at: Column[Any], good: ColumnElement[bool], bucket_s: int
    ) -> list[SliBucket]:
        with self._engine.connect() as conn:
            rows = _bucket_rows(conn, self._bucket_select(query, at, good, bucket_s))
        return [_sli_bucket(b, g, v) for b, g, v in rows]

    def _bucket_select(
        self, query: Select[Any], at: Column[Any], good: ColumnElement[bool], bucket_s: int
    ) -> Select[Any]:
        """``query`` plus the columns b (bucket start), g (1 if good) and v (1: valid)."""
        return query.add_columns(
            self._bucket(at, bucket_s).label("b"),
            case((good, 1), else_=0).label("g"),
            literal_column("1", Integer).label("v"),
        )

    def _bucket(self, at: ColumnElement[Any], bucket_s: int) -> ColumnElement[int]:
        """Epoch seconds of the bucket start; ``bucket_s`` is inlined (a validated int)."""
        n = literal_column(str(int(bucket_s)), Integer)
        if self._sqlite:
            # Whole seconds of the stored text first: SQLite's date functions round
            # to the millisecond, which would move 12:00:59.9996 into the next minute.
            days = func.julianday(func.substr(at, 1, 19)) - literal_column("2440587.5")
            epoch = sql_cast(func.round(days * literal_column("86400")), Integer)
            return (epoch // n) * n
        return sql_cast(func.floor(extract("epoch", at) / n), BigInteger) * n

    def round_counts(
        self, since: datetime, until: datetime, filters: Filters = NO_FILTERS
    ) -> dict[str, int]:
        """Rounds started in the window, by status (every status present, zero if none)."""
        query = (
            select(rounds.c.status, func.count())
            .where(*_window(rounds, rounds.c.started_at, since, until, filters))
            .group_by(rounds.c.status)
        )
        with self._engine.connect() as conn:
            counts = {status: 0 for status in _ROUND_STATUSES}
            counts.update({s: int(n) for s, n in conn.execute(query)})
            return counts

    def first_round_at(self, filters: Filters = NO_FILTERS) -> datetime | None:
        """When the first matching round started (coverage starts there)."""
        query = select(func.min(rounds.c.started_at)).where(*_attribute_filters(rounds, filters))
        with self._engine.connect() as conn:
            return cast(datetime | None, conn.execute(query).scalar())

    def annotations_between(
        self, since: datetime, until: datetime, target: str | None = None
    ) -> list[Annotation]:
        """Annotations overlapping ``[since, until)``, open-ended ones included.

        With ``target``, those for that target and those for every target (NULL).
        """
        since, until = _utc(since), _utc(until)
        a = annotation_table.c
        query = (
            select(annotation_table)
            .where(a.start < until, or_(a.end.is_(None), a.end > since))
            .order_by(a.start, a.id)
        )
        if target is not None:
            query = query.where(or_(a.target.is_(None), a.target == target))
        with self._engine.connect() as conn:
            return [
                Annotation(row.kind, row.start, row.end, row.text, row.target, row.id)
                for row in conn.execute(query)
            ]

    # --- dashboard aggregates ---------------------------------------------------------

    def latency_percentiles(
        self, since: datetime, until: datetime, filters: Filters = NO_FILTERS, bucket_s: int = 60
    ) -> list[dict[str, Any]]:
        """p50/p95/p99 of first_event_ms and completion_ms per bucket (nearest rank), in SQL.

        Keys: start, first_event_count, first_event_p50/_p95/_p99, completion_count,
        completion_p50/_p95/_p99. Window functions rank the values, so only the
        result rows leave the database.
        """
        inner = select(
            self._bucket(_s.started_at, bucket_s).label("start"),
            _s.first_event_ms.label("first_event"),
            _s.completion_ms.label("completion"),
        ).where(*_window(sessions, _s.started_at, since, until, filters))
        return self._percentiles(inner, ["start"], ["first_event", "completion"], (50, 95, 99))

    def db_timings_between(
        self, since: datetime, until: datetime, filters: Filters = NO_FILTERS, bucket_s: int = 60
    ) -> list[dict[str, Any]]:
        """Per bucket and operation: count, failed, p50/p95 of COALESCE(server_ms, client_ms).

        Keys: start, operation, ms_count, ms_p50, ms_p95, failed.
        """
        t = db_timings.c
        inner = _timings(since, until, filters).add_columns(
            self._bucket(t.started_at, bucket_s).label("start"),
            t.operation.label("operation"),
            func.coalesce(t.server_ms, t.client_ms).label("ms"),
            case((t.ok, 0), else_=1).label("failed"),
        )
        return self._percentiles(inner, ["start", "operation"], ["ms"], (50, 95), sums=["failed"])

    def _percentiles(
        self,
        inner: Select[Any],
        keys: list[str],
        values: list[str],
        pcts: tuple[int, ...],
        sums: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        # Nearest rank: the p-th percentile of n values is the value ranked
        # ceil(p * n / 100), i.e. the rank r with (r - 1) * 100 < p * n <= r * 100.
        src = inner.subquery()
        part = [src.c[k] for k in keys]
        ranked_cols: list[Any] = [*part, *(src.c[name] for name in sums)]
        for v in values:
            ranked_cols += [
                src.c[v],
                func.row_number()
                .over(partition_by=part, order_by=src.c[v].asc().nulls_last())
                .label(f"{v}_rank"),
                func.count(src.c[v]).over(partition_by=part).label(f"{v}_n"),
            ]
        ranked = select(*ranked_cols).subquery()
        out: list[Any] = [ranked.c[k] for k in keys]
        out += [func.sum(ranked.c[name]).label(name) for name in sums]
        for v in values:
            rank, n = ranked.c[f"{v}_rank"], ranked.c[f"{v}_n"]
            out.append(func.max(n).label(f"{v}_count"))
            for p in pcts:
                pn = literal_column(str(p), Integer) * n
                hit = and_(rank * 100 >= pn, (rank - 1) * 100 < pn)
                out.append(func.min(case((hit, ranked.c[v]))).label(f"{v}_p{p}"))
        query = select(*out).group_by(*(ranked.c[k] for k in keys)).order_by(*out[: len(keys)])
        with self._engine.connect() as conn:
            rows = [dict(row._mapping) for row in conn.execute(query)]
        for row in rows:
            row["start"] = datetime.fromtimestamp(int(row["start"]), UTC)
            for key in (*sums, *(f"{v}_count" for v in values)):
                row[key] = int(row[key] or 0)
        return rows

    def close_codes(
        self, since: datetime, until: datetime, filters: Filters = NO_FILTERS, bucket_s: int = 60
    ) -> list[dict[str, Any]]:
        """Sessions per bucket per close code (None: refused or never connected).

        Keys: start, close_code, count.
        """
        src = (
            select(
                self._bucket(_s.started_at, bucket_s).label("b"), _s.close_code.label("close_code")
            )
            .where(*_window(sessions, _s.started_at, since, until, filters))
            .subquery()
        )
        query = (
            select(src.c.b, src.c.close_code, func.count())
            .group_by(src.c.b, src.c.close_code)
            .order_by(src.c.b, src.c.close_code.asc().nulls_first())
        )
        with self._engine.connect() as conn:
            return [
                {"start": datetime.fromtimestamp(int(b), UTC), "close_code": code, "count": int(n)}
                for b, code, n in conn.execute(query)
            ]

    def memory_by_round(
        self, since: datetime, until: datetime, filters: Filters = NO_FILTERS
    ) -> list[dict[str, Any]]:
        """Memory figures of each round that sampled memory, oldest first.

        Keys: run_id, probe, target, runner, started_at, memory_baseline_mb,
        memory_peak_mb, memory_after_mb, memory_growth_mb, memory_source.
        """
        r = rounds.c
        query = (
            select(
                r.run_id, r.probe, r.target, r.runner, r.started_at, r.memory_baseline_mb,
                r.memory_peak_mb, r.memory_after_mb, r.memory_growth_mb, r.memory_source,
            )
            .where(*_window(rounds, r.started_at, since, until, filters))
            .where(r.memory_baseline_mb.is_not(None))
            .order_by(r.started_at, r.run_id)
        )  # fmt: skip
        with self._engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def failing_sessions(
        self, since: datetime, until: datetime, filters: Filters = NO_FILTERS, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Failed sessions, newest first, for the on-call view.

        Keys: run_id, probe, target, runner, user_id, started_at, close_code,
        close_reason, http_status, missing_events (list), reason, error.
        """
        query = (
            select(
                _s.run_id, _s.probe, _s.target, _s.runner, _s.user_id, _s.started_at,
                _s.close_code, _s.close_reason, _s.http_status, _s.missing_events,
                _s.reason, _s.error,
            )
            .where(*_window(sessions, _s.started_at, since, until, filters), _s.outcome != "ok")
            .order_by(_s.started_at.desc(), _s.user_id)
            .limit(limit)
        )  # fmt: skip
        with self._engine.connect() as conn:
            rows = [dict(row._mapping) for row in conn.execute(query)]
        for row in rows:
            row["missing_events"] = _split(row["missing_events"])
        return rows

    # --- dashboard reads ------------------------------------------------------------
    # Added for dashboard/queries.py (the dashboard engineer); small and read-only.

    def labels(self) -> dict[str, list[str]]:
        """The distinct probes, targets and runners of stored rounds, sorted (filter choices)."""
        r = rounds.c
        query = select(r.probe, r.target, r.runner).distinct()
        found: dict[str, set[str]] = {"probes": set(), "targets": set(), "runners": set()}
        with self._engine.connect() as conn:
            for probe, target, runner in conn.execute(query):
                found["probes"].add(probe)
                found["targets"].add(target)
                found["runners"].add(runner)
        return {key: sorted(values) for key, values in found.items()}

    def memory_buckets(
        self, since: datetime, until: datetime, filters: Filters = NO_FILTERS, bucket_s: int = 3600
    ) -> list[dict[str, Any]]:
        """Per bucket of round starts: rounds with memory, their worst growth and peak.

        Keys: start, rounds, growth_max_mb, peak_max_mb. For ranges with too many
        rounds to draw one point each (``memory_by_round``).
        """
        r = rounds.c
        src = (
            select(
                self._bucket(r.started_at, bucket_s).label("b"),
                r.memory_growth_mb.label("growth"),
                r.memory_peak_mb.label("peak"),
            )
            .where(*_window(rounds, r.started_at, since, until, filters))
            .where(r.memory_baseline_mb.is_not(None))
            .subquery()
        )
        query = (
            select(src.c.b, func.count(), func.max(src.c.growth), func.max(src.c.peak))
            .group_by(src.c.b)
            .order_by(src.c.b)
        )
        with self._engine.connect() as conn:
            return [
                {
                    "start": datetime.fromtimestamp(int(b), UTC),
                    "rounds": int(n),
                    "growth_max_mb": growth,
                    "peak_max_mb": peak,
                }
                for b, n, growth, peak in conn.execute(query)
            ]


# --- query pieces ---------------------------------------------------------------------


def _attribute_filters(table: Table, filters: Filters) -> list[ColumnElement[bool]]:
    where = [
        table.c[name] == value
        for name in ("probe", "target", "runner")
        if (value := getattr(filters, name)) is not None
    ]
    if filters.run_ids is not None:
        where.append(table.c.run_id.in_(filters.run_ids))
    return where


def _window(
    table: Table, at: Column[Any], since: datetime, until: datetime, filters: Filters
) -> list[ColumnElement[bool]]:
    return [at >= _utc(since), at < _utc(until), *_attribute_filters(table, filters)]


def _counted_sessions(since: datetime, until: datetime, filters: Filters) -> Select[Any]:
    uncounted = select(rounds.c.run_id).where(rounds.c.status.in_(UNCOUNTED_STATUSES))
    return (
        select()
        .select_from(sessions)
        .where(
            *_window(sessions, _s.started_at, since, until, filters), _s.run_id.not_in(uncounted)
        )
    )


def _timings(since: datetime, until: datetime, filters: Filters) -> Select[Any]:
    """DB timings in the window; probe/target/runner come from their round."""
    t = db_timings.c
    query = (
        select()
        .select_from(db_timings)
        .where(t.started_at >= _utc(since), t.started_at < _utc(until))
    )
    if filters.run_ids is not None:
        query = query.where(t.run_id.in_(filters.run_ids))
    attributes = _attribute_filters(rounds, Filters(filters.target, filters.probe, filters.runner))
    if attributes:
        query = query.join(rounds, rounds.c.run_id == t.run_id).where(*attributes)
    return query


def _bucket_rows(conn: Connection, inner: Select[Any]) -> list[tuple[int, int, int]]:
    """Sum g and v of ``inner`` per bucket b: (bucket epoch, good, valid), oldest first."""
    sub = inner.subquery()
    query = (
        select(sub.c.b, func.sum(sub.c.g), func.sum(sub.c.v)).group_by(sub.c.b).order_by(sub.c.b)
    )
    return [(int(b), int(g), int(v)) for b, g, v in conn.execute(query)]


def _also_probe(filters: Filters, probe: str) -> Filters:
    if filters.probe is None or filters.probe == probe:
        return Filters(filters.target, probe, filters.runner, filters.run_ids)
    return Filters(filters.target, filters.probe, filters.runner, ())  # both apply: nothing


def _threshold(value: float | None, slo: SloSettings) -> float:
    if value is None:
        raise ValueError(f"SLO {slo.name!r}: sli {slo.sli} needs a threshold")
    return value


def _ceil_minute(t: datetime) -> datetime:
    floor = t.replace(second=0, microsecond=0)
    return floor if floor == t else floor + timedelta(minutes=1)


def _sli_bucket(epoch: int, good: int, valid: int) -> SliBucket:
    return SliBucket(datetime.fromtimestamp(epoch, UTC), good, valid)


def _iso(value: datetime) -> str:
    return _utc(value).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _split(joined: str) -> list[str]:
    return joined.split(",") if joined else []


# --- records <-> rows -------------------------------------------------------------------


def _round_row(r: RoundResult) -> dict[str, Any]:
    auth = r.auth_check
    return {
        "run_id": r.run_id,
        "probe": r.probe,
        "target": r.target,
        "runner": r.runner,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "status": r.status,
        "reason": r.reason,
        "memory_baseline_mb": r.memory_baseline_mb,
        "memory_peak_mb": r.memory_peak_mb,
        "memory_after_mb": r.memory_after_mb,
        "memory_growth_mb": r.memory_growth_mb,
        "memory_source": r.memory_source,
        "auth_http_status": auth.http_status if auth else None,
        "auth_close_code": auth.close_code if auth else None,
        "auth_ok": auth.ok if auth else None,
        "auth_error": auth.error if auth else None,
        "sessions_total": len(r.sessions),
        "sessions_failed": len(r.failed_sessions),
    }


_SESSION_FIELDS = (
    "run_id", "probe", "target", "runner", "user_id", "auth_mode", "started_at",
    "connect_ms", "first_event_ms", "completion_ms", "total_ms", "close_code",
    "close_reason", "sent_close_code", "http_status", "order_ok", "seq_gaps",
    "foreign_events", "agent_run_id", "outcome", "reason", "error",
)  # fmt: skip


def _session_row(s: SessionResult) -> dict[str, Any]:
    if any("," in name for name in s.missing_events):
        raise ValueError(f"event type with a comma in {s.missing_events!r}")
    row = {name: getattr(s, name) for name in _SESSION_FIELDS}
    row["missing_events"] = ",".join(s.missing_events)
    row["db_ms"] = json.dumps(s.db_ms)
    row["complete"] = s.complete
    return row


def _session_record(row: Row[Any], events: list[Event]) -> SessionResult:
    values = {name: getattr(row, name) for name in _SESSION_FIELDS}
    return SessionResult(
        **values,
        events=tuple(events),
        missing_events=tuple(_split(row.missing_events)),
        db_ms=json.loads(row.db_ms),
    )


def _event_row(session_id: int, position: int, e: Event) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "position": position,
        "type": e.type,
        "ms": e.ms,
        "seq": e.seq,
        "server_ts": e.server_ts,
        "foreign": e.foreign,
    }


def _timing_row(r: RoundResult, t: DbTiming) -> dict[str, Any]:
    return {
        "run_id": r.run_id,
        "started_at": r.started_at,
        "operation": t.operation,
        "client_ms": t.client_ms,
        "server_ms": t.server_ms,
        "ok": t.ok,
        "error": t.error,
    }


_EXPORT_FIELDS = (
    "run_id", "probe", "target", "runner", "user_id", "started_at", "connect_ms",
    "first_event_ms", "total_ms", "close_code", "close_reason", "http_status", "events",
    "missing_events", "order_ok", "foreign_events", "outcome", "reason", "error",
)  # fmt: skip
_EXPORT_COLUMNS = tuple(k for k in _EXPORT_FIELDS if k != "events")  # events: own table


def _export_row(row: Row[Any], types: list[str]) -> dict[str, Any]:
    """``row`` is (id, the export columns but events, in ``_EXPORT_FIELDS`` order)."""
    out: dict[str, Any] = dict(zip(_EXPORT_COLUMNS, row[1:], strict=True))
    out["started_at"] = _iso(out["started_at"])
    out["events"] = types
    out["missing_events"] = _split(out["missing_events"])
    return {k: out[k] for k in _EXPORT_FIELDS}
