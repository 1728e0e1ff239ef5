"""Reads: a round whole, round and session rows for exports, labels, annotations, counts."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import String, func, or_, select, text
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Engine

from probes.records import (
    Annotation,
    AuthCheck,
    DbTiming,
    Event,
    Filters,
    MemorySample,
    RoundResult,
)
from probes.results.query import attribute_filters, timings, window
from probes.results.rows import EXPORT_COLUMNS, export_row, iso_of, session_record, split
from probes.results.schema import (
    ROUND_STATUSES,
    UtcDateTime,
    annotation_table,
    as_stored,
    db_timings,
    memory_samples,
    rounds,
    session_events,
    sessions,
    to_utc,
)

_s = sessions.c


def has_round(engine: Engine, run_id: str) -> bool:
    """Whether a round with this run id is stored."""
    with engine.connect() as conn:
        query = select(rounds.c.run_id).where(rounds.c.run_id == run_id)
        return conn.execute(query).first() is not None


def round_(engine: Engine, run_id: str) -> RoundResult | None:
    """The stored round, rebuilt whole (equal to what was saved, unless pruned)."""
    with engine.connect() as conn:
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
        m, t = memory_samples.c, db_timings.c
        samples = conn.execute(select(memory_samples).where(m.run_id == run_id).order_by(m.id))
        timings = conn.execute(select(db_timings).where(t.run_id == run_id).order_by(t.id))
        sample_rows, timing_rows = samples.all(), timings.all()
    auth = None
    if head.auth_ok is not None:
        auth = AuthCheck(head.auth_http_status, head.auth_close_code, head.auth_ok, head.auth_error)
    return RoundResult(
        run_id=head.run_id,
        probe=head.probe,
        target=head.target,
        runner=head.runner,
        started_at=head.started_at,
        finished_at=head.finished_at,
        status=head.status,
        reason=head.reason,
        sessions=tuple(session_record(row, events[row.id]) for row in rows),
        auth_check=auth,
        db_timings=tuple(
            DbTiming(x.operation, x.client_ms, x.server_ms, x.ok, x.error) for x in timing_rows
        ),
        memory_samples=tuple(MemorySample(x.at, x.rss_mb) for x in sample_rows),
        memory_source=head.memory_source,
        profile=head.profile,
    )


def rounds_between(
    engine: Engine, since: datetime, until: datetime, filters: Filters, limit: int | None
) -> list[dict[str, Any]]:
    """Round summary rows (no sessions), newest first, times as ISO strings."""
    # A year of 30 locations is ~260,000 rows: the time columns are read as stored and
    # rewritten as text (``iso_of``), the rows made dicts by one zip.
    columns = [c for c in rounds.c if c.name != "minute"]
    stamps = [i for i, c in enumerate(columns) if isinstance(c.type, UtcDateTime)]
    query = (
        select(*(as_stored(c) if i in stamps else c for i, c in enumerate(columns)))
        .where(*window(rounds, rounds.c.started_at, since, until, filters))
        .order_by(rounds.c.started_at.desc(), rounds.c.run_id)
        .limit(limit)
    )
    names = [c.name for c in columns]
    out = []
    with engine.connect() as conn:
        for row in conn.execute(query):
            values = list(row)
            for i in stamps:
                values[i] = iso_of(values[i])
            out.append(dict(zip(names, values, strict=True)))
    return out


def round_figures(
    engine: Engine, since: datetime, until: datetime, filters: Filters, status: str | None
) -> list[tuple[str, str, float | None]]:
    """(run_id, probe, memory growth) of the rounds in the window (of ``status``), oldest first.

    What judging a range's rounds against the memory objectives needs, without
    the whole summary row (a year of rounds as dicts was 2.5 s of the Stability page).
    """
    r = rounds.c
    query = select(r.run_id, r.probe, r.memory_growth_mb).where(
        *window(rounds, r.started_at, since, until, filters)
    )
    if status is not None:
        query = query.where(r.status == status)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(r.started_at, r.run_id))
        return [(str(a), str(b), c) for a, b, c in rows]


def iter_sessions(
    engine: Engine, since: datetime, until: datetime, filters: Filters, limit: int | None
) -> Iterator[dict[str, Any]]:
    """Export rows, oldest first (then by user), read in chunks of 1000.

    Each row's event types come with it, as a JSON array the database builds in
    position order (``event_types``): 90 days of 30 locations are ~10^6 event
    rows that need not each cross into Python.
    """
    query = (
        select(
            *(as_stored(_s[k]) if k == "started_at" else _s[k] for k in EXPORT_COLUMNS),
            event_types(engine.dialect.name),
        )
        .where(*window(sessions, _s.started_at, since, until, filters))
        .order_by(_s.started_at, _s.user_id, _s.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=1000).execute(query)
        for row in result:
            yield export_row(row[:-1], json.loads(row[-1]))


def event_types(dialect: str) -> Any:
    """A session's event types in position order, as one JSON array text (``[]`` if none)."""
    e = session_events.c
    if dialect == "postgresql":
        agg = func.coalesce(func.json_agg(aggregate_order_by(e.type, e.position)), text("'[]'"))
        return select(sql_cast(agg, String)).where(e.session_id == _s.id).scalar_subquery()
    # SQLite before 3.44 has no ORDER BY inside an aggregate: the rows come from an
    # ordered subquery, which SQLite does not flatten into an aggregate query.
    ordered = (
        select(e.type)
        .where(e.session_id == _s.id)
        .order_by(e.position)
        .correlate(sessions)  # a subquery in FROM is correlated only when told
        .subquery("ordered")
    )
    return select(func.json_group_array(ordered.c.type)).scalar_subquery()


def failing_sessions(
    engine: Engine, since: datetime, until: datetime, filters: Filters, limit: int
) -> list[dict[str, Any]]:
    """Failed sessions, newest first, for the on-call view."""
    query = (
        select(
            _s.run_id, _s.probe, _s.target, _s.profile, _s.runner, _s.user_id, _s.started_at,
            _s.close_code, _s.close_reason, _s.http_status, _s.missing_events, _s.auth_mode,
            _s.reason, _s.error,
        )
        .where(*window(sessions, _s.started_at, since, until, filters), _s.outcome != "ok")
        .order_by(_s.started_at.desc(), _s.user_id)
        .limit(limit)
    )  # fmt: skip
    with engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(query)]
    for row in rows:
        row["missing_events"] = split(row["missing_events"])
    return rows


def round_counts(
    engine: Engine, since: datetime, until: datetime, filters: Filters
) -> dict[str, int]:
    """Rounds started in the window, by status (every status present, zero if none)."""
    query = (
        select(rounds.c.status, func.count())
        .where(*window(rounds, rounds.c.started_at, since, until, filters))
        .group_by(rounds.c.status)
    )
    with engine.connect() as conn:
        counts = {status: 0 for status in ROUND_STATUSES}
        counts.update({s: int(n) for s, n in conn.execute(query)})
        return counts


def first_round_at(engine: Engine, filters: Filters) -> datetime | None:
    """When the first matching round started (coverage starts there)."""
    query = select(func.min(rounds.c.started_at)).where(*attribute_filters(rounds, filters))
    with engine.connect() as conn:
        return cast(datetime | None, conn.execute(query).scalar())


def annotations_between(
    engine: Engine, since: datetime, until: datetime, target: str | None
) -> list[Annotation]:
    """Annotations overlapping ``[since, until)``; with ``target``, its own and global ones."""
    since, until = to_utc(since), to_utc(until)
    a = annotation_table.c
    query = (
        select(annotation_table)
        .where(a.start < until, or_(a.end.is_(None), a.end > since))
        .order_by(a.start, a.id)
    )
    if target is not None:
        query = query.where(or_(a.target.is_(None), a.target == target))
    with engine.connect() as conn:
        return [
            Annotation(row.kind, row.start, row.end, row.text, row.target, row.id)
            for row in conn.execute(query)
        ]


def timing_rows(
    engine: Engine, since: datetime, until: datetime, filters: Filters, over_ms: float | None
) -> list[dict[str, Any]]:
    """DB timings of rounds started in the window, oldest first, for judging breaches;
    with ``over_ms``, only those that can breach a threshold that low (failed, without a
    figure, or over it)."""
    t = db_timings.c
    query = (
        timings(since, until, filters, with_round=True)
        .add_columns(t.run_id, rounds.c.probe, t.operation, t.ok, t.server_ms, t.client_ms)
        .order_by(t.started_at, t.run_id, t.id)
    )
    if over_ms is not None:
        ms = func.coalesce(t.server_ms, t.client_ms)  # the figure breaches.round_breaches judges
        query = query.where(or_(t.ok.is_(False), ms.is_(None), ms > over_ms))
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def slow_sessions(
    engine: Engine,
    since: datetime,
    until: datetime,
    filters: Filters,
    over_ms: Mapping[str, float],
) -> list[dict[str, Any]]:
    """Connected sessions that passed with a figure measured over its floor (``over_ms``:
    ``first_event_ms`` and/or ``completion_ms`` -> ms), newest first: the candidates
    ``probes.judging.breaches`` judges. A figure that never came breaches nothing (the
    session failed for it: ``breaches.over_threshold``), so those rows are not read."""
    if not over_ms:
        return []
    slow = or_(*(_s[field] > ms for field, ms in sorted(over_ms.items())))
    query = (
        select(
            _s.run_id, _s.probe, _s.target, _s.runner, _s.user_id, _s.started_at,
            _s.http_status, _s.connect_ms, _s.first_event_ms, _s.completion_ms, _s.outcome,
            _s.close_code, _s.auth_mode,
        )
        .where(
            *window(sessions, _s.started_at, since, until, filters),
            _s.http_status.is_(None), _s.connect_ms.is_not(None), _s.outcome == "ok", slow,
        )
        .order_by(_s.started_at.desc(), _s.user_id)
    )  # fmt: skip
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]
