"""The dashboard's reads, cached: ``dashboard.chartdata`` over ``probes.results``.

Only caching lives here (``st.cache_data`` / ``st.cache_resource``); what is
read and how it is shaped is ``dashboard.chartdata``, which the reports use
too. Every function takes the store URL (and the settings when the answer
depends on them) so the cache key says exactly what was asked; ``until`` is
rounded up by ``window_end`` so that the pages of one refresh interval share
one cached answer. Shared by all browser sessions of the process
(``st.cache_data`` is global). Writes go to the store's write side (``writer(url)``);
``forget_notes`` drops the cached annotations after one.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from dashboard.chartdata import frames, live, rounds, rows, series, status
from dashboard.chartdata import locations as location_status
from dashboard.chartdata.live import LiveSnapshot, RoundBreaches
from dashboard.chartdata.objectives import Objectives, judge, laid_out
from dashboard.chartdata.rounds import LATEST_ROUNDS, RoundDetail, RoundSummary
from dashboard.chartdata.rows import LatencyBucket
from dashboard.chartdata.status import Labels, StoreStatus
from probes.config import Settings
from probes.records import Filters
from probes.results import ResultStore

__all__ = [
    "HEAVY_TTL_S",
    "LIVE_TTL_S",
    "STEP_S",
    "Labels",
    "LiveSnapshot",
    "Objectives",
    "RoundBreaches",
    "RoundDetail",
    "RoundSummary",
    "StoreStatus",
]

LIVE_TTL_S = 5.0  # failing sessions and latest rounds: as fresh as the live refresh
# Judging objectives over 30-day windows and aggregating a range are the heavy reads
# (see docs/benchmarks.md): their window ends on whole minutes, cached for two.
STEP_S = 60.0
HEAVY_TTL_S = 120.0


def window_end(step_s: float, now: datetime | None = None) -> datetime:
    """``now`` rounded up to a multiple of ``step_s``, so one interval shares cached answers."""
    now = now or datetime.now(UTC)
    step = max(1, math.ceil(step_s))
    epoch = math.ceil(now.timestamp() / step) * step
    return datetime.fromtimestamp(epoch, UTC)


@st.cache_resource(show_spinner=False)
def _store(url: str) -> ResultStore:
    # Connect only, read-only: the dashboard never creates, migrates or locks the store
    # to read (the SLI cache is filled by writers' processes, not by page views).
    return ResultStore(url, read_only=True)


@st.cache_resource(show_spinner=False)
def _writer(url: str) -> ResultStore:
    return ResultStore(url)


def store(url: str) -> ResultStore:
    """The shared read-only store for ``url``: pages and reports read it."""
    return _store(url)


def writer(url: str) -> ResultStore:
    """The store's write side, for the annotation form (the dashboard's one write)."""
    return _writer(url)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def store_status(url: str) -> StoreStatus:
    """``chartdata.status.store_status``: whether there is anything to show."""
    return status.store_status(url, _store)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def first_round_at(url: str) -> datetime | None:
    """When the first stored round started (a range's default start fits the data)."""
    return _store(url).first_round_at()


@st.cache_data(ttl=HEAVY_TTL_S, show_spinner=False)
def labels(url: str) -> Labels:
    """The probes, targets and runners that have stored rounds, for the filters."""
    return status.labels(_store(url))


@st.cache_data(ttl=HEAVY_TTL_S, max_entries=64, show_spinner=False)
def objectives(
    url: str,
    settings: Settings,
    since: datetime,
    until: datetime,
    filters: Filters,
    slo_windows: bool = False,
) -> Objectives:
    """Every objective judged (``chartdata.objectives.judge``: the gate's and reports' answer).

    Over a range (not ``slo_windows``) it is the pooled half of ``_judged``: the
    by-location table of the same range then costs no second read.
    """
    if not slo_windows:
        return _judged(url, settings, since, until, filters)[0]
    return judge(_store(url), settings, since, until, filters, slo_windows)


@st.cache_data(ttl=HEAVY_TTL_S, max_entries=64, show_spinner=False)
def objectives_by_location(
    url: str, settings: Settings, since: datetime, until: datetime, filters: Filters
) -> pd.DataFrame:
    """``chartdata.locations.by_location``: each objective judged per location (one row each)."""
    return _judged(url, settings, since, until, filters)[1]


@st.cache_data(ttl=HEAVY_TTL_S, max_entries=16, show_spinner=False)
def _judged(
    url: str, settings: Settings, since: datetime, until: datetime, filters: Filters
) -> tuple[Objectives, pd.DataFrame]:
    """A range judged over every location and at each alone, from the same reads."""
    pooled, found = location_status.by_location(_store(url), settings, since, until, filters)
    return laid_out(pooled, settings), location_status.location_frame(found)


@st.cache_data(ttl=LIVE_TTL_S, max_entries=64, show_spinner=False)
def latest_rounds(
    url: str, until: datetime, filters: Filters, limit: int = LATEST_ROUNDS
) -> pd.DataFrame:
    """``chartdata.rounds.latest_rounds``: failing first, then newest first."""
    return rounds.latest_rounds(_store(url), until, filters, limit)


@st.cache_data(ttl=LIVE_TTL_S, max_entries=64, show_spinner=False)
def locations(url: str, settings: Settings, until: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``chartdata.locations.read``: the location x probe grid and the runner processes."""
    return location_status.read(_store(url), settings, until)


@st.cache_data(ttl=LIVE_TTL_S, max_entries=64, show_spinner=False)
def failing_sessions(
    url: str, since: datetime, until: datetime, filters: Filters, limit: int = 20
) -> pd.DataFrame:
    """``chartdata.rounds.failing_sessions``: the newest failed sessions."""
    return rounds.failing_sessions(_store(url), since, until, filters, limit)


@st.cache_data(ttl=LIVE_TTL_S, max_entries=16, show_spinner=False)
def live_snapshot(url: str, settings: Settings, until: datetime, filters: Filters) -> LiveSnapshot:
    """``chartdata.live.live_snapshot``: one Live refresh, every part read at ``until``."""
    return live.live_snapshot(_store(url), settings, until, filters)


@st.cache_data(ttl=HEAVY_TTL_S, max_entries=64, show_spinner=False)
def breaching_rounds(
    url: str, settings: Settings, since: datetime, until: datetime, filters: Filters
) -> int:
    """``chartdata.live.breaching_rounds``: passed on the protocol, over an objective."""
    return live.breaching_rounds(_store(url), settings, since, until, filters)


@st.cache_data(ttl=60, max_entries=32, show_spinner=False)
def round_breaches(url: str, settings: Settings, run_id: str) -> RoundBreaches | None:
    """``chartdata.live.round_breaches``: one round judged against each objective."""
    return live.round_breaches(_store(url), settings, run_id)


@st.cache_data(ttl=60, max_entries=32, show_spinner=False)
def round_detail(url: str, run_id: str) -> RoundDetail | None:
    """``chartdata.rounds.round_detail``; None if the round is not stored."""
    return rounds.round_detail(_store(url), run_id)


# --- stability: aggregates over a range ----------------------------------------------


@st.cache_data(ttl=HEAVY_TTL_S, max_entries=64, show_spinner=False)
def latency(
    url: str, since: datetime, until: datetime, filters: Filters, bucket_s: int
) -> list[LatencyBucket]:
    """p50/p95/p99 of first-event and completion latency per bucket (``frames.latency_frame``)."""
    return rows.latency(_store(url), since, until, filters, bucket_s)


@st.cache_data(ttl=HEAVY_TTL_S, max_entries=64, show_spinner=False)
def memory(
    url: str, since: datetime, until: datetime, filters: Filters, bucket_s: int
) -> tuple[pd.DataFrame, bool]:
    """``chartdata.series.memory_frame``: per round, or the worst round per bucket."""
    return series.memory_frame(_store(url), since, until, filters, bucket_s)


@st.cache_data(ttl=HEAVY_TTL_S, max_entries=64, show_spinner=False)
def close_codes(
    url: str, since: datetime, until: datetime, filters: Filters, bucket_s: int
) -> pd.DataFrame:
    """Sessions per bucket per close code (``frames.CLOSE_CODE_COLUMNS``)."""
    return frames.close_codes_frame(rows.close_codes(_store(url), since, until, filters, bucket_s))


@st.cache_data(ttl=HEAVY_TTL_S, max_entries=64, show_spinner=False)
def completeness(
    url: str, since: datetime, until: datetime, filters: Filters, bucket_s: int
) -> pd.DataFrame:
    """Complete, in-order sessions per bucket (``frames.COMPLETENESS_COLUMNS``)."""
    found = rows.completeness(_store(url), since, until, filters, bucket_s)
    return frames.completeness_frame(found)


@st.cache_data(ttl=HEAVY_TTL_S, max_entries=64, show_spinner=False)
def db_timings(
    url: str, since: datetime, until: datetime, filters: Filters, bucket_s: int
) -> pd.DataFrame:
    """p50/p95 per bucket and DB operation (``frames.DB_COLUMNS``)."""
    return frames.db_timings_frame(rows.db_timings(_store(url), since, until, filters, bucket_s))


@st.cache_data(ttl=LIVE_TTL_S, max_entries=64, show_spinner=False)
def notes(url: str, since: datetime, until: datetime, target: str | None) -> pd.DataFrame:
    """Deploy markers, incidents and maintenance windows overlapping the range."""
    found = _store(url).annotations_between(since, until, target=target)
    return frames.notes_frame(found)


def forget_notes() -> None:
    """Drop the cached annotations (after a note was written through ``store(url)``)."""
    notes.clear()
