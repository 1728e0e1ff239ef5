"""Percentiles from the per-minute, per-hour and per-day histograms that ``save_round`` keeps."""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text

from probes.records import DbTiming, Filters, RoundResult, SessionResult
from probes.results import ResultStore, RoundNotSaved, engine
from probes.results.histograms import cover

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def a_round(run_id: str, at: datetime, k: int, users: int = 7) -> RoundResult:
    """Sessions with spread-out latencies (some without a completion) and DB timings."""
    sessions = tuple(
        SessionResult(
            run_id, "chat", "ws://a/ws", "eu-1", f"u{i}", "header", at + timedelta(seconds=i),
            connect_ms=2.0, first_event_ms=30.0 + (k * 37 + i * 101) % 900,
            completion_ms=None if (k + i) % 5 == 0 else 400.0 + (k * 53 + i * 211) % 5000,
            outcome="ok",
        )
        for i in range(users)
    )  # fmt: skip
    timings = (
        DbTiming("thread_create", 3.0 + k % 40, None, True),
        DbTiming("message_batch", None, 1.0 + (k * 7) % 90, k % 9 != 0),
    )
    return RoundResult(run_id, "chat", "ws://a/ws", "eu-1", at, at, "passed",
                       sessions=sessions, db_timings=timings)  # fmt: skip


def history() -> list[RoundResult]:
    return [a_round(f"r{k}", T0 + k * 7 * M, k) for k in range(60)]  # seven hours


def close(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            k: v if v is None or isinstance(v, datetime | str) else pytest.approx(v, rel=0.01)
            for k, v in row.items()
        }
        for row in rows
    ]


@pytest.mark.parametrize("bucket_s", [60, 600, 3600, 3 * 3600])
def test_histogram_percentiles_are_within_1_percent_of_nearest_rank(
    store: ResultStore, bucket_s: int
) -> None:
    rounds = history()
    for r in rounds:
        store.save_round(r)
    # Windows on whole minutes, one not on whole hours: hour rows plus minute rows.
    for since, until in ((T0, T0 + 8 * HOUR), (T0 + 17 * M, T0 + 6 * HOUR + 3 * M)):
        # A run_ids filter reads the raw rows and ranks them exactly.
        exact = Filters(run_ids=tuple(r.run_id for r in rounds))
        raw = store.latency_percentiles(since, until, exact, bucket_s=bucket_s)
        assert store.latency_percentiles(since, until, bucket_s=bucket_s) == close(raw)
        raw_db = store.db_timings_between(since, until, exact, bucket_s=bucket_s)
        assert store.db_timings_between(since, until, bucket_s=bucket_s) == close(raw_db)
        assert raw and raw_db


def days_history() -> list[RoundResult]:
    """A round every 97 minutes for three days from 12:00: days cut by the windows below."""
    return [a_round(f"d{k}", T0 + k * 97 * M, k) for k in range(45)]


DAY = timedelta(days=1)
MIDNIGHT = T0.replace(hour=0)


@pytest.mark.parametrize(
    ("since", "until"),
    [
        (MIDNIGHT, MIDNIGHT + 4 * DAY),  # whole days: day rows only
        (T0 + 17 * M, T0 + 2 * DAY + 5 * HOUR + 3 * M),  # minute, hour and day rows
    ],
)
def test_day_buckets_read_day_rows_within_1_percent(
    store: ResultStore, since: datetime, until: datetime
) -> None:
    rounds = days_history()
    store.save_rounds(rounds)
    exact = Filters(run_ids=tuple(r.run_id for r in rounds))
    raw = store.latency_percentiles(since, until, exact, bucket_s=86400)
    assert store.latency_percentiles(since, until, bucket_s=86400) == close(raw)
    raw_db = store.db_timings_between(since, until, exact, bucket_s=86400)
    assert store.db_timings_between(since, until, bucket_s=86400) == close(raw_db)
    assert len(raw) >= 3 and raw_db


def test_a_window_is_covered_once_by_the_widest_rows_that_fit() -> None:
    day, hour = 1440, 60
    assert cover(0, 3 * day, [1, 60, 1440]) == [(1440, 0, 3 * day)]
    spans = cover(17, 2 * day + 5 * hour + 3, [1, 60, 1440])
    assert spans == [
        (1, 17, 60), (60, 60, day), (1440, day, 2 * day),
        (60, 2 * day, 2 * day + 5 * hour), (1, 2 * day + 5 * hour, 2 * day + 5 * hour + 3),
    ]  # fmt: skip
    assert cover(17, 50, [1, 60]) == [(1, 17, 50)]
    assert cover(50, 50, [1, 60, 1440]) == []


def test_the_upgrade_builds_the_day_rows_a_writer_would_have(store_url: str) -> None:
    """0013 merges the stored hour rows into day rows equal to those ``save_round`` writes."""
    rounds = days_history()
    with ResultStore(engine.make_parent_folder(store_url)) as store:
        store.upgrade()  # today's writer needs today's tables (0014-0015's SLI rows)
        store.save_rounds(rounds)  # today's writer: day rows too
        written = store.latency_percentiles(MIDNIGHT, MIDNIGHT + 4 * DAY, bucket_s=86400)
        timings = store.db_timings_between(MIDNIGHT, MIDNIGHT + 4 * DAY, bucket_s=86400)
        # A store written before 0013 has no day rows (and no later tables): back to 0012
        raw = create_engine(store_url)
        with raw.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM histograms WHERE width = 1440")).scalar()
            conn.execute(text("DELETE FROM histograms WHERE width = 1440"))
            later = ("sli_hour_coverage", "sli_day_coverage", "sli_day_cache", "session_rollup_day")
            for table in later:
                conn.execute(text(f"DROP TABLE {table}"))
            conn.execute(text("UPDATE alembic_version SET version_num = '0012'"))
        raw.dispose()
        store.upgrade()
        assert store.latency_percentiles(MIDNIGHT, MIDNIGHT + 4 * DAY, bucket_s=86400) == written
        assert store.db_timings_between(MIDNIGHT, MIDNIGHT + 4 * DAY, bucket_s=86400) == timings


def test_percentiles_outlive_the_raw_rows(store: ResultStore) -> None:
    rounds = history()
    for r in rounds:
        store.save_round(r)
    before = store.latency_percentiles(T0, T0 + 8 * HOUR, bucket_s=3600)
    timings = store.db_timings_between(T0, T0 + 8 * HOUR, bucket_s=3600)
    store.prune(T0 + 9 * HOUR, T0)
    assert store.sessions_between(T0, T0 + 8 * HOUR) == []
    assert store.latency_percentiles(T0, T0 + 8 * HOUR, bucket_s=3600) == before
    assert store.db_timings_between(T0, T0 + 8 * HOUR, bucket_s=3600) == timings
    store.prune(T0 + 9 * HOUR, T0 + 9 * HOUR)  # past rollup_retention too
    assert store.latency_percentiles(T0, T0 + 8 * HOUR, bucket_s=3600) == []


def test_writers_adding_to_one_minute_at_once_lose_no_counts(store: ResultStore) -> None:
    rounds = [a_round(f"w{k}", T0, k, users=50) for k in range(6)]
    errors: list[BaseException] = []

    def save(r: RoundResult) -> None:
        try:
            store.save_round(r)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(r,)) for r in rounds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    (row,) = store.latency_percentiles(T0, T0 + HOUR, bucket_s=3600)
    assert row["first_event_count"] == 300
    assert row["completion_count"] == sum(
        s.completion_ms is not None for r in rounds for s in r.sessions
    )


def test_a_batch_of_rounds_is_stored_as_each_alone_or_not_at_all(
    store: ResultStore, tmp_path: Any
) -> None:
    rounds = history()[:20]
    with ResultStore.open(f"sqlite:///{tmp_path / 'one-by-one.db'}") as alone:
        for r in rounds:
            alone.save_round(r)
        expected = alone.latency_percentiles(T0, T0 + 8 * HOUR, bucket_s=600)
    store.save_rounds(rounds[:10])
    with pytest.raises(RoundNotSaved, match="r9"):
        store.save_rounds(rounds[10:] + rounds[9:10])  # r9 again: the whole batch fails
    assert store.round("r10") is None
    store.save_rounds(rounds[10:])
    assert store.latency_percentiles(T0, T0 + 8 * HOUR, bucket_s=600) == expected
    assert all(store.round(r.run_id) == r for r in rounds)


def test_saving_a_round_reads_its_histogram_rows_by_key_not_by_scanning_sqlite(
    tmp_path: Path,
) -> None:
    # A row-value IN list alone made SQLite scan the whole table on every save, a cost
    # growing with the history (bench/histogram_save.py: ~0.6 s a round at a year of
    # 30 locations).
    url = f"sqlite:///{tmp_path / 'h.db'}"
    with ResultStore.open(url) as store:
        store.save_rounds(history())  # earlier minutes: a table to scan
        reads: list[tuple[str, Any]] = []

        def seen(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
            if statement.lstrip().startswith("SELECT") and "FROM histograms" in statement:
                reads.append((statement, params))

        event.listen(store._writer, "before_cursor_execute", seen)
        store.save_round(a_round("late", T0 + 9 * HOUR, 3))
        event.remove(store._writer, "before_cursor_execute", seen)
    assert reads
    plain = create_engine(url)
    with plain.connect() as conn:
        for statement, params in reads:
            plan = [r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)]
            assert any("SEARCH histograms USING PRIMARY KEY" in step for step in plan), plan
            assert not any(step.startswith("SCAN histograms") for step in plan), plan
    plain.dispose()


def located(r: RoundResult, probe: str, runner: str) -> RoundResult:
    run_id = f"{r.run_id}-{probe}-{runner}"
    own = tuple(replace(s, run_id=run_id, probe=probe, runner=runner) for s in r.sessions)
    return replace(r, run_id=run_id, probe=probe, runner=runner, sessions=own)


def stored_rows(url: str) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """Every histogram row: key -> (count, failed, low, high, bins as a dict)."""
    raw = create_engine(url)
    try:
        with raw.connect() as conn:
            query = text("SELECT width, minute, probe, target, runner, metric, count, failed, "
                         "low, high, bins FROM histograms")  # fmt: skip
            return {
                tuple(row[:6]): (*row[6:10], json.loads(row[10])) for row in conn.execute(query)
            }
    finally:
        raw.dispose()


def test_the_every_location_rows_are_the_merge_of_each_locations_and_are_what_charts_read(
    store_url: str,
) -> None:
    rounds = [
        located(r, probe, runner)
        for r in history()
        for probe, runner in (("chat", "eu-1"), ("chat", "us-1"), ("tools", "eu-1"))
    ]
    late = rounds.pop(7)  # saved last, into hours and a day already written
    with ResultStore.open(store_url) as store:
        store.save_rounds(rounds[:90])
        for r in rounds[90:]:
            store.save_round(r)
        store.save_round(late)
        since, until = T0, T0 + 8 * HOUR
        charts = {
            width: (store.latency_percentiles(since, until, bucket_s=width),
                    store.db_timings_between(since, until, bucket_s=width))
            for width in (3600, 86400)
        }  # fmt: skip
        one = Filters(runner="us-1")
        theirs = store.latency_percentiles(since, until, one, bucket_s=3600)
    rows = stored_rows(store_url)
    merged: dict[tuple[Any, ...], list[Any]] = {}
    for (width, minute, probe, target, runner, metric), (
        n,
        failed,
        low,
        high,
        bins,
    ) in rows.items():
        if width == 1 or (probe, target, runner) == ("", "", ""):
            continue
        m = merged.setdefault((width, minute, "", "", "", metric), [0, 0, None, None, Counter()])
        m[0] += n
        m[1] += failed
        m[2] = low if m[2] is None else min(m[2], low if low is not None else m[2])
        m[3] = high if m[3] is None else max(m[3], high if high is not None else m[3])
        m[4].update(bins)
    pooled = {k: v for k, v in rows.items() if k[2:5] == ("", "", "")}
    assert pooled.keys() == merged.keys() and {k[0] for k in pooled} == {60, 1440}
    for key, (n, failed, low, high, bins) in merged.items():
        assert pooled[key] == (n, failed, low, high, dict(+bins)), key
    # Charts over every location read those rows: with each location's hour and day rows
    # gone, they answer as before; one location's chart reads its own rows, now gone.
    raw = create_engine(store_url)
    with raw.begin() as conn:
        conn.execute(text("DELETE FROM histograms WHERE width > 1 AND probe <> ''"))
    raw.dispose()
    with ResultStore(store_url) as store:
        for width, (latency, timings) in charts.items():
            assert store.latency_percentiles(since, until, bucket_s=width) == latency
            assert store.db_timings_between(since, until, bucket_s=width) == timings
        assert theirs and not store.latency_percentiles(since, until, one, bucket_s=3600)


def test_the_upgrade_merges_the_every_location_rows_a_writer_would_have(store_url: str) -> None:
    rounds = [located(r, "chat", runner) for r in history() for runner in ("eu-1", "us-1")]
    with ResultStore.open(store_url) as store:
        store.save_rounds(rounds)
    written = stored_rows(store_url)
    raw = create_engine(store_url)
    with raw.begin() as conn:  # a store of revision 0015: no every-location rows yet
        conn.execute(text("DELETE FROM histograms WHERE probe = ''"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0015'"))
    raw.dispose()
    with ResultStore(store_url) as store:
        store.upgrade()
    assert stored_rows(store_url) == written
