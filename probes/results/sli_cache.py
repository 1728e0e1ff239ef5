"""The per-minute SLI cache: exact counts of the threshold SLIs, filled by reads.

A definition is (sli, threshold, operation). ``sli_minute_cache`` holds its good
and valid counts per whole minute and (probe, target, runner), one row for each
combination with events; ``sli_minute_coverage`` holds one row per (definition,
minute) whose counts are all in the cache. So a covered minute without cache
rows had no valid events, and a minute without coverage was never computed.

A read counts the whole minutes of its window from the cache, up to the minute
the newest round started in (later minutes, and the partial minutes at the
edges, come from the raw rows). Missing minutes are counted from the raw rows
with one grouped query and stored, a day at most per write transaction; each
is serialised with ``save_round`` (SQLite: BEGIN IMMEDIATE; PostgreSQL: an
exclusive advisory lock that ``save_round`` takes too), so no round can land
between the counting and the storing. ``save_round`` deletes the cache and
coverage of every minute its round falls in, in its own transaction, so a round
saved late never leaves a stale count. The answer then comes from one read
snapshot: the cache, plus the raw rows of any minute still missing (the store
could not write: read-only or locked; or a round emptied it meanwhile).
``prune_older_than`` keeps the cache, as it keeps the rollup: cached minutes
keep their counts after the raw rows are gone; minutes not cached by then are
counted from what is left.

Every write of the minute cache also recomputes the hours it touched in
``sli_hour_cache`` and ``sli_hour_coverage``, and their days in ``sli_day_cache``
and ``sli_day_coverage`` (``hourly.rehour_sli``), in the same transaction; a long
read checks the coverage of its whole days and hours there, and reads their counts
from those rows when its buckets hold whole days or hours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Float,
    Integer,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InternalError, OperationalError

from probes.records import Filters, RunnerBuckets
from probes.results.engine import advisory_lock
from probes.results.hourly import DAY, HOUR, MINUTE, WIDTHS, cover, rehour_sli, widths_for
from probes.results.query import (
    attribute_filters,
    bucket,
    bucket_rows,
    bucket_select,
    runner_buckets,
    start_of,
)
from probes.results.schema import (
    NO_FILTERS,
    epoch_minute,
    rounds,
    sli_day_cache,
    sli_day_coverage,
    sli_hour_cache,
    sli_hour_coverage,
    sli_minute_cache,
    sli_minute_coverage,
)

# The cache and its coverage at each width (minutes): a long read takes the widest rows
# that lie whole inside its window and its buckets (``hourly.cover``).
CACHE = {MINUTE: sli_minute_cache, HOUR: sli_hour_cache, DAY: sli_day_cache}
COVERAGE = {MINUTE: sli_minute_coverage, HOUR: sli_hour_coverage, DAY: sli_day_coverage}
# PostgreSQL advisory lock, exclusive: taken by save_round and by a cache fill.
FILL_LOCK = 74657311
# The most minutes one write transaction counts and stores (it holds the write lock).
FILL_MINUTES = 1440
# More separate missing ranges than this are counted over their whole span.
_MAX_RANGES = 20


@dataclass(frozen=True)
class Definition:
    """One cached SLI: its name, threshold (ms or MB) and DB operation ('' if none)."""

    sli: str
    threshold: float
    operation: str = ""

    def where(self, table: Table) -> list[ColumnElement[bool]]:
        c = table.c
        return [c.sli == self.sli, c.threshold == self.threshold, c.operation == self.operation]


@dataclass(frozen=True)
class Events:
    """The valid events of an SLI in a window: rows of ``query``, bucketed by ``table``."""

    query: Select[Any]
    table: Table
    good: ColumnElement[bool]
    labels: tuple[Column[Any], Column[Any], Column[Any]]  # probe, target, runner


Source = Callable[[datetime, datetime, Filters], Events]
Row = tuple[str, str, str, int, int, int]  # probe, target, runner, minute, good, valid


def counts(
    engine: Engine,
    writer: Engine | None,
    definition: Definition,
    source: Source,
    span: tuple[datetime, datetime],
    filters: Filters,
    bucket_s: int,
) -> RunnerBuckets:
    """Good and valid events per runner and bucket of ``bucket_s`` (a multiple of 60) in
    ``span``."""
    since, until = span
    first = epoch_minute(since) + (since != _floor(since))
    last = epoch_minute(until)
    with _snapshot(engine) as conn:
        # Two statements: each is one index seek (both in one scan the whole index).
        oldest = conn.execute(select(func.min(rounds.c.started_at))).scalar_one()
        newest = conn.execute(select(func.max(rounds.c.started_at))).scalar_one()
        last = min(last, epoch_minute(newest)) if newest is not None else first
        # Minutes before the first stored round have no events: nothing to count.
        first = max(first, epoch_minute(oldest)) if oldest is not None else first
        if first >= last:
            return _answer(conn, definition, source, span, None, filters, bucket_s)
        missing = _missing(conn, definition, first, last)
        if not missing:
            return _answer(conn, definition, source, span, (first, last), filters, bucket_s)
    if writer is not None:  # a read-only store counts the missing minutes, stores none
        _fill(writer, definition, source, missing)
    with _snapshot(engine) as conn:  # whatever a round made missing since: from raw rows
        rows = _computed(conn, source, _missing(conn, definition, first, last))
        return _answer(conn, definition, source, span, (first, last), filters, bucket_s, rows)


def fill(writer: Engine, definition: Definition, source: Source, first: int, last: int) -> None:
    """Count and store the minutes of ``[first, last)`` the cache lacks (none: no write)."""
    with _snapshot(writer) as conn:
        missing = _missing(conn, definition, first, last)
    if missing:
        _fill(writer, definition, source, missing)


def recount(conn: Connection, definition: Definition, source: Source, a: int, b: int) -> None:
    """Count minutes ``[a, b)`` into the cache, in the caller's write transaction.

    The minutes must have no cache or coverage rows (``forget_minutes`` first).
    """
    _store(conn, definition, source, a, b)


def minute_start(minute: int) -> datetime:
    """The start of an epoch minute, as an aware UTC datetime."""
    return _at(minute)


def _fill(
    writer: Engine, definition: Definition, source: Source, missing: list[tuple[int, int]]
) -> None:
    """Count and store the missing minutes, a day at most per (short) write transaction."""
    for a, b in missing:
        for start in range(a, b, FILL_MINUTES):
            end = min(b, start + FILL_MINUTES)
            try:
                with writer.begin() as conn:
                    if conn.dialect.name == "postgresql":
                        advisory_lock(conn, FILL_LOCK)
                    # Minutes another reader filled meanwhile are left as they are.
                    for first, last in _missing(conn, definition, start, end):
                        _store(conn, definition, source, first, last)
            except (OperationalError, InternalError):  # read-only or locked: store nothing
                return


def forget_minutes(conn: Connection, first: int, last: int) -> None:
    """Delete the cached counts and coverage of minutes ``first..last`` (inclusive).

    On PostgreSQL this first takes the fill lock, exclusively: the hours of these
    minutes are recomputed here (``rehour_sli``), and two transactions doing that
    for one hour at once would insert the same hour rows. (It was shared when no
    objective was tracked; with the default objectives it always was exclusive.)
    """
    if conn.dialect.name == "postgresql":
        advisory_lock(conn, FILL_LOCK)
    for table in (sli_minute_coverage, sli_minute_cache):
        conn.execute(delete(table).where(table.c.minute >= first, table.c.minute <= last))
    rehour_sli(conn, first, last)  # the hours keep the sums of their other minutes


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A read connection whose statements all see one snapshot."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        yield conn


def _missing(
    conn: Connection, definition: Definition, first: int, last: int
) -> list[tuple[int, int]]:
    """The minutes of ``[first, last)`` without coverage, as half-open ranges.

    Whole days and hours inside are first checked in ``sli_day_coverage`` and
    ``sli_hour_coverage`` (a row per day or hour all of whose minutes are covered),
    the minutes at either edge in ``sli_minute_coverage``; only when some are
    missing are they looked up minute by minute.
    """
    cov = sli_minute_coverage.c
    if _all_covered(conn, definition, first, last):
        return []
    where = [*definition.where(sli_minute_coverage), cov.minute >= first, cov.minute < last]
    covered = set(conn.execute(select(cov.minute).where(*where)).scalars())
    ranges: list[tuple[int, int]] = []
    for m in range(first, last):
        if m in covered:
            continue
        if ranges and ranges[-1][1] == m:
            ranges[-1] = (ranges[-1][0], m + 1)
        else:
            ranges.append((m, m + 1))
    return ranges


def _all_covered(conn: Connection, definition: Definition, first: int, last: int) -> bool:
    """Whether every minute of ``[first, last)`` has coverage: whole days by day rows, whole
    hours by hour rows, the minutes at the edges by minute rows."""
    checks = []
    for width, a, b in cover(first, last, WIDTHS):
        table = COVERAGE[width]
        c = table.c
        where = [*definition.where(table), c.minute >= a, c.minute < b]
        checks.append((select(func.count()).where(*where), (b - a) // width))
    return all(conn.execute(query).scalar_one() == n for query, n in checks)


def _computed(conn: Connection, source: Source, missing: Sequence[tuple[int, int]]) -> list[Row]:
    """Counts per minute and (probe, target, runner) of the missing minutes, in one query."""
    if not missing:
        return []
    ev = source(_at(missing[0][0]), _at(missing[-1][1]), NO_FILTERS)
    at, minute = ev.table.c.started_at, ev.table.c.minute
    query = ev.query
    if 1 < len(missing) <= _MAX_RANGES:
        query = query.where(or_(*(and_(at >= _at(a), at < _at(b)) for a, b in missing)))
    query = query.add_columns(
        *ev.labels, minute, func.sum(case((ev.good, 1), else_=0)), func.count()
    ).group_by(*ev.labels, minute)
    wanted = {m for a, b in missing for m in range(a, b)}
    return [
        (p, t, r, int(m), int(g), int(v))
        for p, t, r, m, g, v in conn.execute(query)
        if int(m) in wanted
    ]


def _store(conn: Connection, definition: Definition, source: Source, a: int, b: int) -> None:
    """Count minutes ``[a, b)`` into the cache and mark them covered, in the database."""
    key = [
        literal(definition.sli, String).label("sli"),
        literal(definition.threshold, Float).label("threshold"),
        literal(definition.operation, String).label("operation"),
    ]
    ev = source(_at(a), _at(b), NO_FILTERS)
    minute = ev.table.c.minute
    counted = ev.query.add_columns(
        *key, minute, *ev.labels, func.sum(case((ev.good, 1), else_=0)), func.count()
    ).group_by(minute, *ev.labels)
    names = ["sli", "threshold", "operation", "minute", "probe", "target", "runner"]
    conn.execute(insert(sli_minute_cache).from_select([*names, "good", "valid"], counted))
    # The first minute is a bound parameter, not inlined: an inlined one was a new statement
    # each minute, kept in the engine's compiled cache (memory of a long `run`, issue 10.9).
    # Both terms cast: PostgreSQL wants one type for the recursive column.
    first = sql_cast(bindparam("first_minute", int(a), Integer), Integer)
    minutes = select(first.label("m")).cte("m", recursive=True)
    minutes = minutes.union_all(
        select(sql_cast(minutes.c.m + 1, Integer)).where(minutes.c.m < b - 1)
    )
    conn.execute(insert(sli_minute_coverage).from_select(names[:4], select(*key, minutes.c.m)))
    rehour_sli(conn, a, b - 1, (definition.sli, definition.threshold, definition.operation))


def _answer(
    conn: Connection,
    definition: Definition,
    source: Source,
    span: tuple[datetime, datetime],
    cached: tuple[int, int] | None,
    filters: Filters,
    bucket_s: int,
    computed: Sequence[Row] = (),
) -> RunnerBuckets:
    """The cache over the minutes ``cached``, ``computed`` rows, and raw rows around them,
    per runner.

    ``cached`` None: the whole span from the raw rows.
    """
    since, until = span
    sqlite = conn.dialect.name == "sqlite"
    queries, raw = [], [(since, until)]
    if cached is not None:
        queries += _cached(definition, cached, filters, bucket_s, sqlite)
        raw = [(since, _at(cached[0])), (_at(cached[1]), until)]
    for start, end in raw:
        if start < end:
            ev = source(start, end, filters)
            queries.append(
                bucket_select(ev.query, ev.table, ev.good, bucket_s, sqlite, ev.labels[2])
            )
    rows = [row for query in queries for row in bucket_rows(conn, query)]
    labels = (filters.probe, filters.target, filters.runner)
    for probe, target, runner, m, g, v in computed:
        if all(f in (None, x) for f, x in zip(labels, (probe, target, runner), strict=True)):
            rows.append((runner, m * 60 // bucket_s * bucket_s, g, v))
    return runner_buckets(rows)


def _cached(
    definition: Definition, minutes: tuple[int, int], filters: Filters, bucket_s: int, sqlite: bool
) -> list[Select[Any]]:
    """The cache's rows of ``minutes``: whole days from ``sli_day_cache`` when a bucket holds
    whole days, whole hours from ``sli_hour_cache`` when it holds whole hours, the rest
    from ``sli_minute_cache``."""
    out = []
    for width, a, b in cover(minutes[0], minutes[1], widths_for(bucket_s)):
        table = CACHE[width]
        c = table.c
        out.append(
            select(
                c.runner.label("r"),
                bucket(table, c.minute, bucket_s, sqlite).label("b"),
                c.good.label("g"),
                c.valid.label("v"),
            ).where(
                *definition.where(table),
                c.minute >= a,
                c.minute < b,
                *attribute_filters(table, filters),
            )
        )
    return out


def _at(minute: int) -> datetime:
    return start_of(minute * 60)


def _floor(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)
