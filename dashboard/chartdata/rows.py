"""Typed rows of the range charts, read from ``probes.results``.

The store's aggregates answer with plain JSON-ready dicts (the export and the
store suite read them so); this is the one place that turns them into typed
rows. ``Row(**d)`` fails at once when a key is added, renamed or dropped, so
the keys are checked here rather than only written in a docstring. Field names
are the store's keys, so ``dataclasses.asdict(row)`` is what the JSON report carries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from probes.config import SloSettings
from probes.records import Filters, SliBucket
from probes.results import ResultStore

# Completeness charts count every session under the filters: only the SLI's
# definition of good is read, never a configured objective's probe or target.
COMPLETENESS = SloSettings("event-completeness", "event_completeness", 100.0)


@dataclass(frozen=True, slots=True)
class LatencyBucket:
    """Nearest-rank percentiles of one bucket (ms); a percentile is None when its count is 0."""

    start: datetime
    first_event_count: int
    first_event_p50: float | None
    first_event_p95: float | None
    first_event_p99: float | None
    completion_count: int
    completion_p50: float | None
    completion_p95: float | None
    completion_p99: float | None


@dataclass(frozen=True, slots=True)
class CloseCodeCount:
    """Sessions of one bucket that ended with ``close_code`` (None: refused, no WebSocket)."""

    start: datetime
    close_code: int | None
    count: int


@dataclass(frozen=True, slots=True)
class DbTimingBucket:
    """One DB operation in one bucket: checks made, failed, p50/p95 of server (else client) ms."""

    start: datetime
    operation: str
    failed: int
    ms_count: int
    ms_p50: float | None
    ms_p95: float | None


@dataclass(frozen=True, slots=True)
class MemoryRound:
    """The memory figures of one round that sampled the target's memory."""

    run_id: str
    probe: str
    target: str
    runner: str
    started_at: datetime
    memory_baseline_mb: float | None
    memory_peak_mb: float | None
    memory_after_mb: float | None
    memory_growth_mb: float | None
    memory_source: str


@dataclass(frozen=True, slots=True)
class MemoryBucket:
    """The rounds with memory samples that started in one bucket, and their worst figures."""

    start: datetime
    rounds: int
    growth_max_mb: float | None
    peak_max_mb: float | None


def latency(
    store: ResultStore, since: datetime, until: datetime, filters: Filters, bucket_s: int
) -> list[LatencyBucket]:
    """First-event and completion percentiles per bucket, oldest first."""
    found = store.latency_percentiles(since, until, filters, bucket_s=bucket_s)
    return [LatencyBucket(**row) for row in found]


def close_codes(
    store: ResultStore, since: datetime, until: datetime, filters: Filters, bucket_s: int
) -> list[CloseCodeCount]:
    """Sessions per bucket and close code, oldest first."""
    found = store.close_codes(since, until, filters, bucket_s=bucket_s)
    return [CloseCodeCount(**row) for row in found]


def db_timings(
    store: ResultStore, since: datetime, until: datetime, filters: Filters, bucket_s: int
) -> list[DbTimingBucket]:
    """DB check timings per bucket and operation, oldest first."""
    found = store.db_timings_between(since, until, filters, bucket_s=bucket_s)
    return [DbTimingBucket(**row) for row in found]


def memory_rounds(
    store: ResultStore, since: datetime, until: datetime, filters: Filters
) -> list[MemoryRound]:
    """Every round that sampled memory, oldest first."""
    return [MemoryRound(**row) for row in store.memory_by_round(since, until, filters)]


def memory_buckets(
    store: ResultStore, since: datetime, until: datetime, filters: Filters, bucket_s: int
) -> list[MemoryBucket]:
    """The worst round's memory figures per bucket, oldest first."""
    found = store.memory_buckets(since, until, filters, bucket_s=bucket_s)
    return [MemoryBucket(**row) for row in found]


def completeness(
    store: ResultStore, since: datetime, until: datetime, filters: Filters, bucket_s: int
) -> list[SliBucket]:
    """Sessions with a complete, in-order event stream per bucket (``COMPLETENESS``'s counts)."""
    return store.sli_counts(COMPLETENESS, since, until, filters, bucket_s=bucket_s)


def round_count(store: ResultStore, since: datetime, until: datetime, filters: Filters) -> int:
    """Rounds of every status in the range."""
    return sum(store.round_counts(since, until, filters).values())
