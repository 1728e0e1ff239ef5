"""Query pieces shared by the reads: windows, filters, and epoch-aligned buckets."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Integer,
    Select,
    Table,
    case,
    extract,
    func,
    literal_column,
    select,
)
from sqlalchemy import cast as sql_cast

from probes.records import Filters, RunnerBuckets, SliBucket
from probes.results.schema import UNCOUNTED_STATUSES, db_timings, rounds, sessions, to_utc


def attribute_filters(table: Table, filters: Filters) -> list[ColumnElement[bool]]:
    where = [
        table.c[name] == value
        for name in ("probe", "target", "runner")
        if (value := getattr(filters, name)) is not None
    ]
    if filters.run_ids is not None:
        where.append(table.c.run_id.in_(filters.run_ids))
    return where


def window(
    table: Table, at: Column[Any], since: datetime, until: datetime, filters: Filters
) -> list[ColumnElement[bool]]:
    """``since <= at < until`` and the filters: the exact half-open window."""
    return [at >= to_utc(since), at < to_utc(until), *attribute_filters(table, filters)]


def counted_sessions(since: datetime, until: datetime, filters: Filters) -> Select[Any]:
    """Sessions in the window that count as SLI events (not of skipped/error rounds)."""
    s, r = sessions.c, rounds.c
    # Each session's own round, by its key: a NOT IN (uncounted rounds) list was built by
    # scanning every round of the history on each read (~9 ms a definition for each
    # save's SLI refill at a year of 30 locations; tests/store/test_save_plans.py).
    uncounted = select(r.run_id).where(r.run_id == s.run_id, r.status.in_(UNCOUNTED_STATUSES))
    return (
        select()
        .select_from(sessions)
        .where(*window(sessions, s.started_at, since, until, filters), ~uncounted.exists())
    )


def timings(
    since: datetime, until: datetime, filters: Filters, *, with_round: bool = False
) -> Select[Any]:
    """DB timings in the window; probe/target/runner come from their round.

    The round is joined when a filter needs it, or always with ``with_round``.
    """
    t = db_timings.c
    query = (
        select()
        .select_from(db_timings)
        .where(t.started_at >= to_utc(since), t.started_at < to_utc(until))
    )
    if filters.run_ids is not None:
        query = query.where(t.run_id.in_(filters.run_ids))
    attributes = attribute_filters(rounds, Filters(filters.target, filters.probe, filters.runner))
    if attributes or with_round:
        query = query.join(rounds, rounds.c.run_id == t.run_id).where(*attributes)
    return query


def bucket(table: Table, at: Column[Any], bucket_s: int, sqlite: bool) -> ColumnElement[int]:
    """Epoch seconds of the bucket start; ``bucket_s`` is inlined (a validated int).

    Whole-minute widths come from the integer ``minute`` column: no date
    arithmetic per row, and the covering indexes hold it. Other widths (tests,
    odd ranges) are computed from the time itself.
    """
    n = literal_column(str(int(bucket_s)), BigInteger)
    if bucket_s % 60 == 0:
        minutes = literal_column(str(bucket_s // 60), Integer)
        return sql_cast(table.c.minute // minutes, BigInteger) * n
    if sqlite:
        # Whole seconds of the stored text first: SQLite's date functions round
        # to the millisecond, which would move 12:00:59.9996 into the next minute.
        days = func.julianday(func.substr(at, 1, 19)) - literal_column("2440587.5")
        epoch = sql_cast(func.round(days * literal_column("86400")), Integer)
        return (epoch // n) * n
    return sql_cast(func.floor(extract("epoch", at) / n), BigInteger) * n


def bucket_rows(conn: Connection, inner: Select[Any]) -> list[tuple[str, int, int, int]]:
    """Sum g and v of ``inner`` per runner r and bucket b: (runner, bucket epoch, good,
    valid), oldest bucket first. One read gives every location's counts; the pooled
    count of a bucket is the sum over its runners (each row has one runner)."""
    sub = inner.subquery()
    query = (
        select(sub.c.r, sub.c.b, func.sum(sub.c.g), func.sum(sub.c.v))
        .group_by(sub.c.b, sub.c.r)
        .order_by(sub.c.b)
    )
    return [(str(r), int(b), int(g), int(v)) for r, b, g, v in conn.execute(query)]


def runner_buckets(rows: Iterable[tuple[str, int, int, int]]) -> RunnerBuckets:
    """(runner, bucket epoch, good, valid) rows, summed per runner and bucket (several
    queries may count parts of one bucket), oldest first; buckets without valid events
    left out."""
    sums: dict[str, dict[int, list[int]]] = {}
    for r, b, g, v in rows:
        counts = sums.setdefault(r, {}).setdefault(b, [0, 0])
        counts[0] += g
        counts[1] += v
    # Every runner has the same buckets: each start made once (a year is ~10^6 buckets).
    starts = {b: start_of(b) for per in sums.values() for b in per}
    return {
        r: [SliBucket(starts[b], g, v) for b, (g, v) in sorted(per.items()) if v]
        for r, per in sums.items()
    }


def start_of(epoch: int) -> datetime:
    return datetime.fromtimestamp(int(epoch), UTC)


def bucket_select(
    query: Select[Any],
    table: Table,
    good: ColumnElement[bool],
    bucket_s: int,
    sqlite: bool,
    runner: Column[Any],
) -> Select[Any]:
    """``query`` plus the columns r (``runner``), b (bucket start), g (1 if good) and v (1:
    valid)."""
    return query.add_columns(
        runner.label("r"),
        bucket(table, table.c.started_at, bucket_s, sqlite).label("b"),
        case((good, 1), else_=0).label("g"),
        literal_column("1", Integer).label("v"),
    )
