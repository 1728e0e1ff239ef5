"""Typed rows -> the DataFrames ``dashboard.figures`` draws: one set of column names.

Every chart's input has its columns named here, and only here; the figure
builders document the same names. Empty inputs give empty frames that keep
their columns (and dtypes), so a chart can always say "no data".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import pandas as pd

from dashboard.chartdata.rows import (
    CloseCodeCount,
    DbTimingBucket,
    LatencyBucket,
    MemoryBucket,
    MemoryRound,
)
from probes.records import Annotation, SliBucket

Metric = Literal["first_event", "completion"]

LATENCY_COLUMNS = ["start", "p50", "p95", "p99"]  # ms
MEMORY_COLUMNS = ["started_at", "growth_mb", "peak_mb"]
CLOSE_CODE_COLUMNS = ["start", "close_code", "count"]
COMPLETENESS_COLUMNS = ["start", "good", "valid"]
DB_COLUMNS = ["start", "operation", "count", "p50", "p95", "failed"]
NOTE_COLUMNS = ["kind", "start", "end", "text", "target", "id"]
ALL_TARGETS = "all targets"


def latency_frame(rows: Iterable[LatencyBucket], metric: Metric) -> pd.DataFrame:
    """``start``, ``p50``, ``p95``, ``p99`` of one metric; buckets without a value left out."""
    data = [
        (r.start, *(getattr(r, f"{metric}_{p}") for p in ("p50", "p95", "p99")))
        for r in rows
        if getattr(r, f"{metric}_count")
    ]
    frame = pd.DataFrame(data, columns=LATENCY_COLUMNS)
    return frame.astype({"p50": "float64", "p95": "float64", "p99": "float64"})


def memory_rounds_frame(rows: Iterable[MemoryRound]) -> pd.DataFrame:
    """One point per round: ``started_at``, ``growth_mb``, ``peak_mb``."""
    data = [(r.started_at, r.memory_growth_mb, r.memory_peak_mb) for r in rows]
    return _memory(data)


def memory_buckets_frame(rows: Iterable[MemoryBucket]) -> pd.DataFrame:
    """The worst round per bucket, in the columns of ``memory_rounds_frame``."""
    return _memory([(b.start, b.growth_max_mb, b.peak_max_mb) for b in rows])


def _memory(data: Sequence[tuple[object, float | None, float | None]]) -> pd.DataFrame:
    frame = pd.DataFrame(data, columns=MEMORY_COLUMNS)
    return frame.astype({"growth_mb": "float64", "peak_mb": "float64"})


def close_codes_frame(rows: Iterable[CloseCodeCount]) -> pd.DataFrame:
    """``start``, ``close_code`` (nullable integer; NA: refused), ``count``."""
    frame = pd.DataFrame(list(rows), columns=CLOSE_CODE_COLUMNS)
    frame["close_code"] = frame["close_code"].astype("Int64")
    return frame


def completeness_frame(buckets: Iterable[SliBucket]) -> pd.DataFrame:
    """``start``, ``good``, ``valid`` per bucket."""
    return pd.DataFrame([(b.start, b.good, b.valid) for b in buckets], columns=COMPLETENESS_COLUMNS)


def db_timings_frame(rows: Iterable[DbTimingBucket]) -> pd.DataFrame:
    """``start``, ``operation``, ``count``, ``p50``, ``p95`` (ms), ``failed`` per bucket."""
    data = [(r.start, r.operation, r.ms_count, r.ms_p50, r.ms_p95, r.failed) for r in rows]
    return pd.DataFrame(data, columns=DB_COLUMNS)


def notes_frame(notes: Iterable[Annotation]) -> pd.DataFrame:
    """``kind``, ``start``, ``end`` (NaT: still open), ``text``, ``target``, ``id``."""
    data = [(a.kind, a.start, a.end, a.text, a.target or ALL_TARGETS, a.id) for a in notes]
    frame = pd.DataFrame(data, columns=NOTE_COLUMNS)
    frame["start"] = pd.to_datetime(frame["start"], utc=True)
    frame["end"] = pd.to_datetime(frame["end"], utc=True)
    return frame
