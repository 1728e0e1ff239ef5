"""One range's chart inputs: the typed rows (``Series``) and their frames (``Frames``).

The report reads a ``Series`` once, carries it in its JSON, and draws every
figure (plotly in the HTML, matplotlib in the PDF) from the ``Frames`` made
of it; the Stability page draws the same frames from the same functions, one
cached read per chart (``dashboard.queries``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from dashboard.chartdata import frames, rows
from dashboard.chartdata.policy import Thresholds, bucket_for
from probes.records import Annotation, Filters, SliBucket
from probes.results import ResultStore

# Above this many rounds in a range, memory is drawn per time bucket (its worst round).
MEMORY_POINTS = 2000


@dataclass(frozen=True, slots=True)
class Series:
    """The figures behind a range's charts, per ``bucket_s`` bucket, as the store counted them."""

    bucket_s: int
    latency: tuple[rows.LatencyBucket, ...]
    memory: tuple[rows.MemoryRound, ...]  # one row per round that sampled memory
    close_codes: tuple[rows.CloseCodeCount, ...]
    completeness: tuple[SliBucket, ...]
    # Over ``MEMORY_POINTS`` rounds: the worst round per bucket instead (``memory`` empty).
    memory_buckets: tuple[rows.MemoryBucket, ...] = ()

    @property
    def memory_per_round(self) -> bool:
        return not self.memory_buckets

    def plain(self) -> dict[str, Any]:
        """Every row as a dict keyed by its field names (the JSON report's ``series``)."""
        return {
            "bucket_s": self.bucket_s,
            "latency": [dataclasses.asdict(r) for r in self.latency],
            "memory": [dataclasses.asdict(r) for r in self.memory],
            "close_codes": [dataclasses.asdict(r) for r in self.close_codes],
            "completeness": [dataclasses.asdict(b) for b in self.completeness],
            "memory_buckets": [dataclasses.asdict(b) for b in self.memory_buckets],
        }


def read_series(store: ResultStore, since: datetime, until: datetime, filters: Filters) -> Series:
    """The range's chart rows at the bucket width of ``policy.bucket_for``; memory per
    round, or the worst round per bucket over ``MEMORY_POINTS`` rounds (as on the page)."""
    width = bucket_for(since, until)
    per_round = rows.round_count(store, since, until, filters) <= MEMORY_POINTS
    return Series(
        bucket_s=width,
        latency=tuple(rows.latency(store, since, until, filters, width)),
        memory=tuple(rows.memory_rounds(store, since, until, filters)) if per_round else (),
        close_codes=tuple(rows.close_codes(store, since, until, filters, width)),
        completeness=tuple(rows.completeness(store, since, until, filters, width)),
        memory_buckets=()
        if per_round
        else tuple(rows.memory_buckets(store, since, until, filters, width)),
    )


@dataclass(frozen=True, slots=True)
class Frames:
    """Chart inputs in the columns of ``chartdata.frames``, the objective lines and the range."""

    first_event: pd.DataFrame
    completion: pd.DataFrame
    memory: pd.DataFrame
    close_codes: pd.DataFrame
    completeness: pd.DataFrame
    annotations: pd.DataFrame
    notes: tuple[Annotation, ...]  # the same annotations as records
    thresholds: Thresholds
    bucket_s: int
    since: datetime
    until: datetime
    memory_per_round: bool = True  # else each memory point is a bucket's worst round


def series_frames(
    series: Series,
    notes: tuple[Annotation, ...],
    thresholds: Thresholds,
    since: datetime,
    until: datetime,
) -> Frames:
    """``series`` as DataFrames (empty ones keep their columns), with what the charts draw over."""
    return Frames(
        first_event=frames.latency_frame(series.latency, "first_event"),
        completion=frames.latency_frame(series.latency, "completion"),
        memory=frames.memory_rounds_frame(series.memory)
        if series.memory_per_round
        else frames.memory_buckets_frame(series.memory_buckets),
        close_codes=frames.close_codes_frame(series.close_codes),
        completeness=frames.completeness_frame(series.completeness),
        annotations=frames.notes_frame(notes),
        notes=notes,
        thresholds=thresholds,
        bucket_s=series.bucket_s,
        since=since,
        until=until,
        memory_per_round=series.memory_per_round,
    )


def memory_frame(
    store: ResultStore, since: datetime, until: datetime, filters: Filters, bucket_s: int
) -> tuple[pd.DataFrame, bool]:
    """Memory growth per round, or the worst round per bucket when there are too many.

    Returns the frame (``frames.MEMORY_COLUMNS``) and whether it is per round.
    """
    if rows.round_count(store, since, until, filters) <= MEMORY_POINTS:
        return frames.memory_rounds_frame(rows.memory_rounds(store, since, until, filters)), True
    return frames.memory_buckets_frame(
        rows.memory_buckets(store, since, until, filters, bucket_s)
    ), False
