"""Tables, column types and indexes of the results store.

Must match ``probes/migrations/versions`` (a test compares the two). Every time
is an aware UTC ``datetime``; the ``minute`` columns hold the same instant as
whole minutes since the Unix epoch (``epoch_minute``), so that aggregates bucket
by integer arithmetic on an index instead of date functions on every row.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ColumnElement,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
    type_coerce,
)
from sqlalchemy.types import NullType

from probes.records import Filters

NO_FILTERS = Filters()
# Sessions of rounds in these states are evidence but not SLI events.
UNCOUNTED_STATUSES = ("skipped", "error")
ROUND_STATUSES = ("passed", "failed", "error", "skipped")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that accepts only aware values and returns aware UTC.

    SQLite keeps no offset, so UTC is stored bare and the offset added back on read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = to_utc(value)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def as_stored(column: ColumnElement[datetime]) -> ColumnElement[Any]:
    """A ``UtcDateTime`` column read as the driver gives it, without SQLAlchemy's per-row
    conversion: SQLite's text, PostgreSQL's aware datetime (``rows.iso_of`` makes either
    the export's ISO 8601 text)."""
    return type_coerce(column, NullType())


def to_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is refused (``ValueError``)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()}: times must be timezone-aware")
    return value.astimezone(UTC)


def epoch_minute(value: datetime) -> int:
    """Whole minutes from the Unix epoch to ``value``, rounded down (exact, no float)."""
    return (to_utc(value) - _EPOCH) // timedelta(minutes=1)


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


def _minute() -> Column[int]:
    # Nullable only because adding a NOT NULL column to a filled SQLite table
    # means copying it; save_round and revision 0002 fill every row.
    return Column("minute", Integer)


rounds = Table(
    "rounds",
    METADATA,
    Column("run_id", String, primary_key=True),
    Column("probe", String, nullable=False),
    Column("target", String, nullable=False),
    Column("runner", String, nullable=False),
    Column("started_at", _TS, nullable=False),
    Column("finished_at", _TS, nullable=False),
    Column("profile", String, nullable=False, server_default="agent-chat-v1"),  # 0010
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
    _minute(),
    CheckConstraint("status IN ('passed', 'failed', 'error', 'skipped')", name="status"),
    Index(None, "probe", "started_at"),
    # Covering: round counts (coverage) and the round SLIs read this index, not the table.
    Index(
        "ix_rounds_window",
        "started_at",
        "minute",
        "probe",
        "target",
        "runner",
        "run_id",
        "status",
        "memory_growth_mb",
        "auth_ok",
    ),
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
    _minute(),
    Column("profile", String, nullable=False, server_default="agent-chat-v1"),  # 0010
    CheckConstraint("outcome IN ('ok', 'failed')", name="outcome"),
    Index(None, "probe", "started_at"),
    Index(None, "target", "started_at"),
    Index(None, "runner", "started_at"),
    # Covering: latency SLIs, percentiles and close codes read this index, not the table.
    Index(
        "ix_sessions_window",
        "started_at",
        "minute",
        "probe",
        "target",
        "runner",
        "run_id",
        "http_status",
        "connect_ms",
        "first_event_ms",
        "completion_ms",
        "close_code",
    ),
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
    Column("started_at", _TS, nullable=False),  # the round's start
    Column("operation", String, nullable=False),
    Column("client_ms", Float),
    Column("server_ms", Float),
    Column("ok", Boolean, nullable=False),
    Column("error", Text, nullable=False),
    _minute(),
    # Covering: the db_latency SLIs and the DB timing percentiles read only this index.
    Index(
        "ix_db_timings_window",
        "started_at",
        "minute",
        "operation",
        "ok",
        "server_ms",
        "client_ms",
        "run_id",
    ),
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
    Column("planned", Integer, nullable=False, server_default="0"),  # planned_close sessions
    _minute(),  # the bucket as epoch minutes
    Index(None, "probe", "bucket"),
    Index(None, "target", "bucket"),
)


# The hourly roll-up beside it (``probes.results.hourly``): the same counts per
# whole hour, ``minute`` the hour's first epoch minute, plus the auth checks of the
# rounds that started in the hour (rows of rounds without counted sessions have
# zero sessions). Written in the round's transaction, so it always equals the sum
# of its minutes; long windows read it instead of 60 times as many minute rows.
def _session_rollup(name: str) -> Table:
    return Table(
        name,
        METADATA,
        Column("minute", Integer, primary_key=True),
        Column("probe", String, primary_key=True),
        Column("target", String, primary_key=True),
        Column("runner", String, primary_key=True),
        Column("sessions", Integer, nullable=False),
        Column("ok", Integer, nullable=False),
        Column("complete_in_order", Integer, nullable=False),
        Column("not_1011", Integer, nullable=False),
        Column("no_foreign", Integer, nullable=False),
        Column("connected", Integer, nullable=False),
        Column("planned", Integer, nullable=False),
        Column("auth_checks", Integer, nullable=False),  # rounds with auth_ok not NULL
        Column("auth_ok", Integer, nullable=False),
        sqlite_with_rowid=False,
    )


session_rollup_hour = _session_rollup("session_rollup_hour")
# The same counts per UTC day (``minute`` the day's first epoch minute), added to in the
# same transactions: a year in day buckets reads 365 rows per location, not 8,760.
session_rollup_day = _session_rollup("session_rollup_day")


def _sli_counts(name: str) -> Table:
    """An SLI cache table: good and valid counts per definition, span and location."""
    return Table(
        name,
        METADATA,
        Column("sli", String, primary_key=True),
        Column("threshold", Float, primary_key=True),
        Column("operation", String, primary_key=True),
        Column("minute", Integer, primary_key=True),  # the span's first epoch minute
        Column("probe", String, primary_key=True),
        Column("target", String, primary_key=True),
        Column("runner", String, primary_key=True),
        Column("good", Integer, nullable=False),
        Column("valid", Integer, nullable=False),
        Index(None, "minute"),  # save_round forgets and recomputes spans across definitions
        sqlite_with_rowid=False,  # rows clustered by key: a long read is one range scan
    )


def _sli_coverage(name: str) -> Table:
    """An SLI coverage table: one row per definition and span whose counts are all cached."""
    return Table(
        name,
        METADATA,
        Column("sli", String, primary_key=True),
        Column("threshold", Float, primary_key=True),
        Column("operation", String, primary_key=True),
        Column("minute", Integer, primary_key=True),  # the span's first epoch minute
        Index(None, "minute"),
        sqlite_with_rowid=False,
    )


# The per-minute SLI cache (``probes.results.sli_cache``): a definition is
# (sli, threshold, operation), operation '' when the SLI has none.
sli_minute_cache = _sli_counts("sli_minute_cache")
sli_minute_coverage = _sli_coverage("sli_minute_coverage")
# One row per (definition, hour) all 60 of whose minutes have ``sli_minute_coverage``
# rows, kept so by every write of the minute coverage (``hourly.rehour_sli``): a
# long read checks 60 times fewer rows to know its minutes are cached.
sli_hour_coverage = _sli_coverage("sli_hour_coverage")
# The SLI cache per whole hour: the sum of the hour's ``sli_minute_cache`` rows,
# kept equal to it by every write of the minute cache (``sli_cache``).
sli_hour_cache = _sli_counts("sli_hour_cache")
# The same one level up: one row per (definition, UTC day) all 24 of whose hours have
# ``sli_hour_coverage``, and the SLI cache per whole day, the sum of the day's
# ``sli_hour_cache`` rows; both kept so by every write of the hours (``hourly.rehour_sli``).
# A year in day buckets then reads 365 rows per definition and location, not 8,760.
sli_day_coverage = _sli_coverage("sli_day_coverage")
sli_day_cache = _sli_counts("sli_day_cache")
# One row per runner process (``instance``): what it schedules and when it last
# beat (``probes.results.schedule``). A label whose rows all stopped beating is down.
runner_heartbeats = Table(
    "runner_heartbeats",
    METADATA,
    Column("instance", String, primary_key=True),
    Column("runner", String, nullable=False),
    Column("host", String, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("ha", Boolean, nullable=False),
    Column("probes", Text, nullable=False),  # JSON object: probe name -> every_s
    Column("beat_every_s", Float, nullable=False),
    Column("started_at", _TS, nullable=False),
    Column("beat_at", _TS, nullable=False),
    Column("last_stored_at", _TS),
    Column("state", String, nullable=False),
    Column("stalls", Integer, nullable=False),
    Column("last_stall_at", _TS),
    Column("detail", Text, nullable=False),
    CheckConstraint("state IN ('running', 'stalled', 'stopped')", name="state"),
    Index(None, "runner", "beat_at"),
)
# The schedule's own record: one row per (probe, runner label, slot) it took,
# a lease as well (the primary key: two HA runners cannot both take a slot).
schedule_slots = Table(
    "schedule_slots",
    METADATA,
    Column("probe", String, primary_key=True),
    Column("runner", String, primary_key=True),
    Column("slot", _TS, primary_key=True),
    Column("minute", Integer, nullable=False),
    Column("state", String, nullable=False),
    Column("run_id", String),  # the round that fills the slot, once it is stored
    Column("instance", String, nullable=False),
    Column("reason", Text, nullable=False),
    CheckConstraint("state IN ('started', 'skipped', 'lost')", name="state"),
    Index(None, "run_id"),
)
# The exporter's all-time rollup (``probes.results.exposition``): per (probe, target,
# runner) and series, a counter added to by every save_round (``at`` 0), or a gauge
# of the newest round (``at`` its start, epoch seconds; an older round never overwrites).
exposition_series = Table(
    "exposition_series",
    METADATA,
    Column("metric", String, primary_key=True),
    Column("label", String, primary_key=True),  # the metric's own label value, '' if none
    Column("bucket", String, primary_key=True),  # histograms: upper bound, 'sum'; else ''
    Column("probe", String, primary_key=True),
    Column("target", String, primary_key=True),
    Column("runner", String, primary_key=True),
    Column("value", Float, nullable=False),
    Column("at", Float, nullable=False),
    sqlite_with_rowid=False,
)
# One row per (probe, target, runner) ever saved: the filter choices (``labels``).
round_labels = Table(
    "round_labels",
    METADATA,
    Column("probe", String, primary_key=True),
    Column("target", String, primary_key=True),
    Column("runner", String, primary_key=True),
)
# Per-minute (width 1) and per-hour (width 60) histograms of latencies and DB
# timings, merged by save_round (``probes.results.histograms``). ``bins`` is a
# JSON object: DDSketch bin key (or "z" for 0) -> count.
histogram_table = Table(
    "histograms",
    METADATA,
    Column("width", Integer, primary_key=True),
    Column("minute", Integer, primary_key=True),  # epoch minute the row starts at
    Column("probe", String, primary_key=True),
    Column("target", String, primary_key=True),
    Column("runner", String, primary_key=True),
    Column("metric", String, primary_key=True),
    Column("count", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("low", Float),
    Column("high", Float),
    Column("bins", Text, nullable=False),
    sqlite_with_rowid=False,  # clustered by (width, minute): a range read is one scan
)
# The SLI definitions whose cache the writer keeps (``sli_cache.track``).
sli_definitions = Table(
    "sli_definitions",
    METADATA,
    Column("sli", String, primary_key=True),
    Column("threshold", Float, primary_key=True),
    Column("operation", String, primary_key=True),
)
# Incidents and their notifications (``probes.results.incidents``): each subject's
# streaks, every incident opened, and the outbox of deliveries (one row per incident,
# target and event, written before it is sent).
alert_subjects = Table(
    "alert_subjects",
    METADATA,
    Column("key", String, primary_key=True),
    Column("bad_streak", Integer, nullable=False),
    Column("good_streak", Integer, nullable=False),
    Column("incident_id", String),  # the open incident, NULL if none
)
incidents = Table(
    "incidents",
    METADATA,
    Column("id", String, primary_key=True),
    Column("kind", String, nullable=False),
    Column("objective", String),
    Column("probe", String, nullable=False),
    Column("target", String, nullable=False),
    Column("runner", String, nullable=False),
    Column("severity", String, nullable=False),
    Column("opened_at", _TS, nullable=False, index=True),
    Column("resolved_at", _TS),
    Column("summary", Text, nullable=False),
    Column("figures", Text, nullable=False),  # JSON object
    CheckConstraint("kind IN ('slo', 'rounds')", name="kind"),
)
notifications = Table(
    "notifications",
    METADATA,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("incident_id", String, _fk("incidents.id"), nullable=False),
    Column("target", String, nullable=False),  # the [[notify]] name
    Column("event", String, nullable=False),  # firing, resolved, repeat:N
    Column("status", String, nullable=False),  # pending, sent, dropped
    Column("due_at", _TS, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("sent_at", _TS),
    Column("last_error", Text, nullable=False),
    Index(None, "incident_id", "target", "event", unique=True),
    Index(None, "status", "due_at"),
    CheckConstraint("status IN ('pending', 'sent', 'dropped')", name="status"),
)
