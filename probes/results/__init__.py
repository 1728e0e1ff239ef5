"""The results store: the only package that knows SQL.

SQLAlchemy Core over SQLite (a file, WAL) or PostgreSQL (``postgresql+psycopg``),
the same statements on both; the schema is created by the Alembic revisions in
``probes/migrations``. Records in (``probes.records``), records or plain dicts out.

Conventions:

- Every time is stored and returned as an aware UTC ``datetime``; naive ones are
  rejected. A window ``since, until`` is half-open, ``[since, until)``.
- Buckets are aligned to the Unix epoch: a row at ``t`` falls in the bucket that
  starts at ``floor(epoch(t) / bucket_s) * bucket_s``. Rows also carry ``minute``
  (epoch minutes), so whole-minute buckets are integer arithmetic on an index.
- Rows meant for export (``rounds_between``, ``sessions_between``) are JSON-ready:
  times are ISO 8601 strings ending in ``Z``. The dashboard aggregates return
  ``datetime`` values.
- Rollup: ``session_rollup_minute`` holds per-minute counts of the count-based
  session SLIs, written in the same transaction as the round, and survives
  ``prune_older_than``. Latency SLIs stay on the raw ``sessions`` rows (any
  threshold, exact answers) and the SLI cache.
- Histograms: ``histograms`` holds per-minute and per-hour DDSketch bins of the
  latencies and DB timings, merged by ``save_round``; the dashboard's
  percentiles read them (within 1 %), for as long as the rollups are kept.
- Retention: raw rows for ``retention``; rounds, rollups, the SLI cache and
  the histograms for ``rollup_retention`` (``retention``), then the space is
  given back (SQLite incremental vacuum, PostgreSQL ``VACUUM ANALYZE``).
- SLI cache: ``sli_minute_cache`` and ``sli_minute_coverage`` hold exact per-minute
  counts of the threshold SLIs per (sli, threshold, operation), filled by reads,
  emptied for a round's minutes by ``save_round``, kept by ``prune_older_than``
  (``sli_cache``).
- Hourly roll-ups: ``session_rollup_hour`` and ``sli_hour_cache`` hold the same
  counts per whole hour (plus the rounds' auth checks), always equal to the sum
  of their minutes: written in the transaction that writes the minutes, filled
  by revision 0011 (``hourly``). ``hourly.sums`` reads whole hours from them and
  the hours a window edge cuts from the minute tables. ``sli_day_cache`` holds the
  SLI cache per UTC day, the sum of its hours, kept with them (revision 0015).

Modules: ``schema`` (tables, types, indexes), ``engine`` (connections, SQLite
pragmas, migrations), ``rows`` (records <-> rows), ``query`` (windows, filters,
buckets), ``writes``, ``bulk`` (COPY / executemany), ``reads``, ``labels`` (the label
table), ``sli`` (SLI counting), ``sli_cache`` (the per-minute SLI cache), ``hourly``,
``histograms``, ``aggregates`` (the dashboard's percentiles and per-bucket
counts), ``retention``, ``store`` (``ResultStore``).
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

from probes.results.engine import check_url, safe_url, sqlite_file
from probes.results.errors import RoundNotSaved, StoreError
from probes.results.opening import preflight, unavailable
from probes.results.schema import (
    METADATA,
    NO_FILTERS,
    UNCOUNTED_STATUSES,
    UtcDateTime,
    annotation_table,
    db_timings,
    epoch_minute,
    histogram_table,
    memory_samples,
    rounds,
    session_events,
    session_rollup,
    sessions,
    sli_minute_cache,
    sli_minute_coverage,
)
from probes.results.spill import spill_path
from probes.results.store import ResultStore

# What a read can raise when the database itself fails (unreachable, locked, corrupt).
DATABASE_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError, StoreError)
# What a command turns into "store unavailable" (a StoreError is already a message).
DATABASE_FAILURES: tuple[type[Exception], ...] = (SQLAlchemyError,)

__all__ = [
    "DATABASE_ERRORS",
    "DATABASE_FAILURES",
    "METADATA",
    "NO_FILTERS",
    "UNCOUNTED_STATUSES",
    "ResultStore",
    "RoundNotSaved",
    "StoreError",
    "UtcDateTime",
    "annotation_table",
    "check_url",
    "db_timings",
    "epoch_minute",
    "histogram_table",
    "memory_samples",
    "preflight",
    "rounds",
    "safe_url",
    "session_events",
    "session_rollup",
    "sessions",
    "sli_minute_cache",
    "sli_minute_coverage",
    "spill_path",
    "sqlite_file",
    "unavailable",
]
