"""SLI counting: good and valid events of one objective per epoch-aligned bucket, in SQL.

===================  =====================================  ================================
SLI                  valid                                  good
===================  =====================================  ================================
session_success      every session but planned_close ones   outcome = 'ok'
                     (unless slo.count_planned_closes)
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

Session rows are bucketed by the session's start, round rows and DB timings by
the round's start. The four count-based session SLIs read whole minutes from the
rollup (bucket_s a multiple of 60, no ``run_ids`` filter) and the partial
minutes at either edge from the raw rows: the same answer, faster, and still
available after pruning. The threshold SLIs (latency, memory_growth, db_latency)
read whole minutes from the per-minute SLI cache under the same conditions
(``probes.results.sli_cache``); auth_rejection, and every SLI filtered by
``run_ids``, reads the covering indexes of the raw rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, ColumnElement, Select, and_, func, or_, select
from sqlalchemy.engine import Engine

from probes.config import SloSettings
from probes.records import INTERNAL_ERROR_CLOSE, Filters, RunnerBuckets
from probes.results import hourly, sli_cache
from probes.results.query import (
    attribute_filters,
    bucket,
    bucket_rows,
    bucket_select,
    counted_sessions,
    runner_buckets,
    start_of,
    timings,
    window,
)
from probes.results.schema import (
    db_timings,
    epoch_minute,
    rounds,
    session_rollup,
    session_rollup_day,
    session_rollup_hour,
    sessions,
    to_utc,
)
from probes.results.sli_cache import Events

_s = sessions.c
_CONNECTED = and_(_s.http_status.is_(None), _s.connect_ms.is_not(None))
# SLI -> (good condition on a raw session, the rollup column counting the same).
SESSION_COUNT_SLIS: dict[str, tuple[ColumnElement[bool], Column[Any]]] = {
    "session_success": (_s.outcome == "ok", session_rollup.c.ok),
    "event_completeness": (and_(_s.complete, _s.order_ok), session_rollup.c.complete_in_order),
    "no_internal_errors": (
        or_(_s.close_code.is_(None), _s.close_code != INTERNAL_ERROR_CLOSE),
        session_rollup.c.not_1011,
    ),
    "isolation": (_s.foreign_events == 0, session_rollup.c.no_foreign),
}
LATENCY_SLIS = {"first_event_latency": _s.first_event_ms, "completion_latency": _s.completion_ms}
# The SLIs with a threshold: counted per minute in the SLI cache.
CACHED_SLIS = (*LATENCY_SLIS, "memory_growth", "db_latency")


def sli_counts(
    engine: Engine,
    writer: Engine | None,
    slo: SloSettings,
    since: datetime,
    until: datetime,
    filters: Filters,
    bucket_s: int,
) -> RunnerBuckets:
    """Good and valid events of ``slo.sli`` per runner label and bucket, from one grouped
    read; buckets without valid events left out (``records.pooled_buckets`` sums them)."""
    since, until = to_utc(since), to_utc(until)
    if bucket_s < 1:
        raise ValueError("bucket_s must be a positive number of seconds")
    if slo.probe is not None:
        filters = _also_probe(filters, slo.probe)
    sqlite = engine.dialect.name == "sqlite"
    if slo.sli in SESSION_COUNT_SLIS:
        planned_out = slo.sli == "session_success" and not slo.count_planned_closes
        return _session_count_sli(engine, slo.sli, since, until, filters, bucket_s, planned_out)
    if slo.sli in CACHED_SLIS:
        source = cache_source(slo)
        if filters.run_ids is None and bucket_s % 60 == 0:
            span = (since, until)
            return sli_cache.counts(
                engine, writer, cache_definition(slo), source, span, filters, bucket_s
            )
        ev = source(since, until, filters)
        query = bucket_select(ev.query, ev.table, ev.good, bucket_s, sqlite, ev.labels[2])
        return _buckets(engine, query)
    if slo.sli == "auth_rejection":
        r = rounds.c
        query = _rounds_where(since, until, filters, r.auth_ok.is_not(None))
        return _buckets(engine, bucket_select(query, rounds, r.auth_ok, bucket_s, sqlite, r.runner))
    raise ValueError(f"unknown SLI {slo.sli!r}")


def _session_count_sli(
    engine: Engine,
    sli: str,
    since: datetime,
    until: datetime,
    filters: Filters,
    bucket_s: int,
    planned_out: bool = False,
) -> RunnerBuckets:
    """``planned_out``: sessions with reason planned_close are not valid events."""
    good, rolled = SESSION_COUNT_SLIS[sli]
    sqlite = engine.dialect.name == "sqlite"
    first, last = _ceil_minute(since), until.replace(second=0, microsecond=0)

    def raw(a: datetime, b: datetime) -> Select[Any]:
        query = counted_sessions(a, b, filters)
        if planned_out:
            query = query.where(or_(_s.reason.is_(None), _s.reason != "planned_close"))
        return bucket_select(query, sessions, good, bucket_s, sqlite, _s.runner)

    if filters.run_ids is not None or bucket_s % 60 or first >= last:
        return _buckets(engine, raw(since, until))

    def rolled_up(width: int, a: int, b: int) -> Select[Any]:
        """The rollup rows of epoch minutes ``[a, b)``: of the day, hour or minute table."""
        table = {hourly.DAY: session_rollup_day, hourly.HOUR: session_rollup_hour}.get(
            width, session_rollup
        )
        r = table.c
        span = (
            [r.minute >= a, r.minute < b]
            if width > 1
            else [r.bucket >= start_of(60 * a), r.bucket < start_of(60 * b)]  # its key
        )
        return select(
            r.runner.label("r"),
            bucket(table, r.minute, bucket_s, sqlite).label("b"),
            r[rolled.name].label("g"),
            (r.sessions - r.planned if planned_out else r.sessions).label("v"),
        ).where(*span, *attribute_filters(table, filters))

    spans = hourly.cover(epoch_minute(first), epoch_minute(last), hourly.widths_for(bucket_s))
    edges = [(since, first), (last, until)]
    queries = [rolled_up(*span) for span in spans] + [raw(a, b) for a, b in edges if a < b]
    with engine.connect() as conn:  # one connection: one snapshot on SQLite
        return runner_buckets(row for query in queries for row in bucket_rows(conn, query))


def cache_definition(slo: SloSettings) -> sli_cache.Definition:
    threshold = slo.threshold_mb if slo.sli == "memory_growth" else slo.threshold_ms
    return sli_cache.Definition(slo.sli, _threshold(threshold, slo), slo.operation or "")


def cache_source(slo: SloSettings) -> sli_cache.Source:
    """The valid events of a threshold SLI in a window, with its good condition."""
    threshold = cache_definition(slo).threshold
    if slo.sli in LATENCY_SLIS:
        value = LATENCY_SLIS[slo.sli]
        good = and_(value.is_not(None), value <= threshold)

        def session_events(since: datetime, until: datetime, filters: Filters) -> Events:
            query = counted_sessions(since, until, filters).where(_CONNECTED)
            return Events(query, sessions, good, (_s.probe, _s.target, _s.runner))

        return session_events
    r = rounds.c
    if slo.sli == "memory_growth":
        growth = r.memory_growth_mb

        def round_events(since: datetime, until: datetime, filters: Filters) -> Events:
            query = _rounds_where(since, until, filters, growth.is_not(None))
            return Events(query, rounds, growth <= threshold, (r.probe, r.target, r.runner))

        return round_events
    t = db_timings.c
    ms = func.coalesce(t.server_ms, t.client_ms)

    def timing_events(since: datetime, until: datetime, filters: Filters) -> Events:
        query = timings(since, until, filters, with_round=True)
        if slo.operation is not None:
            query = query.where(t.operation == slo.operation)
        return Events(query, db_timings, and_(t.ok, ms <= threshold), (r.probe, r.target, r.runner))

    return timing_events


def _rounds_where(
    since: datetime, until: datetime, filters: Filters, valid: ColumnElement[bool]
) -> Select[Any]:
    where = window(rounds, rounds.c.started_at, since, until, filters)
    return select().select_from(rounds).where(*where, valid)


def _buckets(engine: Engine, query: Select[Any]) -> RunnerBuckets:
    with engine.connect() as conn:
        return runner_buckets(bucket_rows(conn, query))


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


def tracked(slos: Sequence[SloSettings]) -> list[tuple[sli_cache.Definition, sli_cache.Source]]:
    """The cached definitions among ``slos`` with their sources, each once."""
    out: dict[sli_cache.Definition, sli_cache.Source] = {}
    for slo in slos:
        if slo.sli in CACHED_SLIS:
            out.setdefault(cache_definition(slo), cache_source(slo))
    return list(out.items())


def source_of(definition: sli_cache.Definition) -> sli_cache.Source:
    """The source of a stored definition (for ``save_round``'s refill)."""
    is_mb = definition.sli == "memory_growth"
    slo = SloSettings(
        "tracked",
        definition.sli,  # type: ignore[arg-type]  # stored by tracked(): a cached SLI
        100.0,
        threshold_ms=None if is_mb else definition.threshold,
        threshold_mb=definition.threshold if is_mb else None,
        operation=definition.operation or None,
    )
    return cache_source(slo)
