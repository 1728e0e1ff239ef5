"""The dashboard's aggregates over a range: percentiles, close codes, DB timings, memory.

Percentiles of whole-minute buckets come from the per-minute and per-hour
histograms that ``save_round`` keeps (``probes.results.histograms``: within
1 % of the exact value, constant cost per stored minute, and kept as long as
the rollups). A ``run_ids`` filter, or a bucket width that is not whole minutes,
reads the raw rows instead and ranks them here, nearest rank: the p-th
percentile of n values is the value ranked ceil(p * n / 100).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from probes.records import Filters
from probes.results import histograms
from probes.results.histograms import DB_PREFIX, SESSION_METRICS, Histogram
from probes.results.query import bucket, start_of, timings, window
from probes.results.schema import db_timings, rounds, sessions

_s = sessions.c


def latency_percentiles(
    engine: Engine, since: datetime, until: datetime, filters: Filters, bucket_s: int
) -> list[dict[str, Any]]:
    """p50/p95/p99 of first_event_ms and completion_ms per bucket, oldest first."""
    if filters.run_ids is not None or bucket_s % 60:
        return _raw_latency_percentiles(engine, since, until, filters, bucket_s)
    found = histograms.read(engine, since, until, filters, bucket_s, SESSION_METRICS)
    out = []
    for b in sorted({b for b, _ in found}):
        row: dict[str, Any] = {"start": start_of(b)}
        for metric in SESSION_METRICS:
            row |= _quantiles(metric, found.get((b, metric), Histogram()), (50, 95, 99))
        out.append(row)
    return out


def db_timings_between(
    engine: Engine, since: datetime, until: datetime, filters: Filters, bucket_s: int
) -> list[dict[str, Any]]:
    """Per bucket and operation: count, failed, p50/p95 of COALESCE(server_ms, client_ms)."""
    if filters.run_ids is not None or bucket_s % 60:
        return _raw_db_timings(engine, since, until, filters, bucket_s)
    found = histograms.read(engine, since, until, filters, bucket_s, db=True)
    return [
        {"start": start_of(b), "operation": metric.removeprefix(DB_PREFIX), "failed": x.failed}
        | _quantiles("ms", x, (50, 95))
        for (b, metric), x in sorted(found.items())
    ]


def _quantiles(name: str, x: Histogram, pcts: Sequence[int]) -> dict[str, Any]:
    out: dict[str, Any] = {f"{name}_count": x.count}
    for p, value in zip(pcts, x.percentiles(pcts), strict=True):
        out[f"{name}_p{p}"] = value
    return out


def _raw_latency_percentiles(
    engine: Engine, since: datetime, until: datetime, filters: Filters, bucket_s: int
) -> list[dict[str, Any]]:
    sqlite = engine.dialect.name == "sqlite"
    query = select(
        bucket(sessions, _s.started_at, bucket_s, sqlite), _s.first_event_ms, _s.completion_ms
    ).where(*window(sessions, _s.started_at, since, until, filters))
    groups: dict[int, tuple[list[float], list[float]]] = {}
    with engine.connect() as conn:
        for b, first, done in conn.execute(query):
            firsts, dones = groups.setdefault(int(b), ([], []))
            if first is not None:
                firsts.append(first)
            if done is not None:
                dones.append(done)
    return [
        {"start": start_of(b)}
        | _percentiles("first_event", firsts, (50, 95, 99))
        | _percentiles("completion", dones, (50, 95, 99))
        for b, (firsts, dones) in sorted(groups.items())
    ]


def _raw_db_timings(
    engine: Engine, since: datetime, until: datetime, filters: Filters, bucket_s: int
) -> list[dict[str, Any]]:
    t = db_timings.c
    query = timings(since, until, filters).add_columns(
        bucket(db_timings, t.started_at, bucket_s, engine.dialect.name == "sqlite"),
        t.operation,
        func.coalesce(t.server_ms, t.client_ms),
        t.ok,
    )
    groups: dict[tuple[int, str], tuple[list[float], list[bool]]] = {}
    with engine.connect() as conn:
        for b, operation, ms, ok in conn.execute(query):
            values, failed = groups.setdefault((int(b), operation), ([], []))
            if ms is not None:
                values.append(ms)
            failed.append(not ok)
    return [
        {"start": start_of(b), "operation": op, "failed": sum(failed)}
        | _percentiles("ms", values, (50, 95))
        for (b, op), (values, failed) in sorted(groups.items())
    ]


def _percentiles(name: str, values: list[float], pcts: Sequence[int]) -> dict[str, Any]:
    values.sort()
    n = len(values)
    out: dict[str, Any] = {f"{name}_count": n}
    for p in pcts:
        rank = -(-p * n // 100)  # ceil(p * n / 100), in integers
        out[f"{name}_p{p}"] = values[rank - 1] if n else None
    return out


def close_codes(
    engine: Engine, since: datetime, until: datetime, filters: Filters, bucket_s: int
) -> list[dict[str, Any]]:
    """Sessions per bucket per close code (None: refused or never connected)."""
    b = bucket(sessions, _s.started_at, bucket_s, engine.dialect.name == "sqlite").label("b")
    src = (
        select(b, _s.close_code.label("close_code"))
        .where(*window(sessions, _s.started_at, since, until, filters))
        .subquery()
    )
    query = (
        select(src.c.b, src.c.close_code, func.count())
        .group_by(src.c.b, src.c.close_code)
        .order_by(src.c.b, src.c.close_code.asc().nulls_first())
    )
    with engine.connect() as conn:
        return [
            {"start": start_of(b), "close_code": code, "count": int(n)}
            for b, code, n in conn.execute(query)
        ]


def memory_by_round(
    engine: Engine, since: datetime, until: datetime, filters: Filters
) -> list[dict[str, Any]]:
    """Memory figures of each round that sampled memory, oldest first."""
    r = rounds.c
    query = (
        select(
            r.run_id, r.probe, r.target, r.runner, r.started_at, r.memory_baseline_mb,
            r.memory_peak_mb, r.memory_after_mb, r.memory_growth_mb, r.memory_source,
        )
        .where(*window(rounds, r.started_at, since, until, filters))
        .where(r.memory_baseline_mb.is_not(None))
        .order_by(r.started_at, r.run_id)
    )  # fmt: skip
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def memory_buckets(
    engine: Engine, since: datetime, until: datetime, filters: Filters, bucket_s: int
) -> list[dict[str, Any]]:
    """Per bucket of round starts: rounds with memory, their worst growth and peak."""
    r = rounds.c
    src = (
        select(
            bucket(rounds, r.started_at, bucket_s, engine.dialect.name == "sqlite").label("b"),
            r.memory_growth_mb.label("growth"),
            r.memory_peak_mb.label("peak"),
        )
        .where(*window(rounds, r.started_at, since, until, filters))
        .where(r.memory_baseline_mb.is_not(None))
        .subquery()
    )
    query = (
        select(src.c.b, func.count(), func.max(src.c.growth), func.max(src.c.peak))
        .group_by(src.c.b)
        .order_by(src.c.b)
    )
    with engine.connect() as conn:
        return [
            {"start": start_of(b), "rounds": int(n), "growth_max_mb": growth, "peak_max_mb": peak}
            for b, n, growth, peak in conn.execute(query)
        ]
