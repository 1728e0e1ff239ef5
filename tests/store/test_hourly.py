"""The hourly roll-ups answer exactly what the per-minute rows answer.

``slo_segments`` (the exporter's sums) reads whole hours from the hour tables
and the hours a bound or a maintenance edge cuts from the minute tables; the
expected counts here come from ``sli_counts`` per minute (the release gate's
path, which reads no hour table), cut into the same segments in Python. The hour
tables must also equal the sums of their minutes after late rounds, cache
fills and the migration that builds them.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, event, insert, select, text

from probes.config import SloSettings, parse_settings
from probes.records import (
    AuthCheck,
    DbTiming,
    Event,
    Filters,
    MemorySample,
    RoundResult,
    SessionResult,
)
from probes.results import ResultStore, epoch_minute
from probes.results import schema as tables
from probes.results.hourly import SESSION_COUNTS
from probes.results.sli import CACHED_SLIS, SESSION_COUNT_SLIS

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # whole hour
EVENTS = ("agent_started", "agent_completed")
SLOS = [
    *parse_settings("").slos,
    SloSettings("one-probe", "completion_latency", 99.0, threshold_ms=900.0, probe="p1"),
    SloSettings("planned-in", "session_success", 99.0, count_planned_closes=True),
]


def a_round(
    k: int, at: datetime, probe: str, target: str, runner: str, rng: random.Random
) -> RoundResult:
    run_id = f"r{k}"
    people = []
    for i in range(2):
        reason = rng.choice([None, None, None, "closed_abnormally", "planned_close"])
        people.append(
            SessionResult(
                run_id, probe, target, runner, f"u{i}", "header", at + timedelta(seconds=i),
                connect_ms=rng.uniform(1, 30), first_event_ms=rng.uniform(50, 900),
                completion_ms=rng.uniform(200, 8000), total_ms=100.0,
                close_code=1011 if reason == "closed_abnormally" else 1000,
                events=tuple(Event(e, 10.0 * n, seq=n + 1) for n, e in enumerate(EVENTS)),
                outcome="ok" if reason is None else "failed", reason=reason,
                foreign_events=int(rng.random() < 0.1),
            )
        )  # fmt: skip
    auth = None if k % 5 == 0 else AuthCheck(401 if k % 3 else 200, None, bool(k % 3))
    timings = tuple(
        DbTiming(op, rng.uniform(1, 90), rng.uniform(1, 90), True)
        for op in ("thread_create", "message_batch", "result_store", "data_retrieval")
    )
    status = "passed" if all(s.outcome == "ok" for s in people) else "failed"
    return RoundResult(
        run_id, probe, target, runner, at, at + timedelta(seconds=3), status,
        sessions=tuple(people), auth_check=auth, db_timings=timings,
        memory_samples=(MemorySample(at, 100.0), MemorySample(at, 100.0 + rng.uniform(0, 3))),
        memory_source="healthz",
    )  # fmt: skip


def days_of_history() -> list[RoundResult]:
    """Three days and a half of rounds every 50 minutes from two series, shuffled."""
    rng = random.Random(5)
    series = [("p1", "ws://a/ws", "eu-1"), ("p1", "ws://a/ws", "us-1")]
    start = T0 - timedelta(hours=9)  # midnight UTC
    rounds = [
        a_round(10_000 + k * 10 + n, start + timedelta(minutes=50 * k, seconds=7 * n), *labels, rng)
        for k in range(int(3.5 * 24 * 60 / 50))
        for n, labels in enumerate(series)
    ]
    rng.shuffle(rounds)
    return rounds


def history() -> list[RoundResult]:
    """Five hours of rounds every 7 minutes from three series, in random order of saving."""
    rng = random.Random(11)
    series = [("p1", "ws://a/ws", "eu-1"), ("p2", "ws://b/ws", "eu-1"), ("p1", "ws://a/ws", "us-1")]
    return [
        a_round(k * 10 + n, T0 + timedelta(minutes=7 * k, seconds=13 * n), *labels, rng)
        for k in range(43)
        for n, labels in enumerate(series)
    ]


def expected(
    store: ResultStore, bounds: list[int], paused: list[tuple[int, int, str | None]]
) -> dict[str, dict[tuple[str, str, str], list[tuple[int, int, int, int]]]]:
    """``slo_segments`` computed from per-minute ``sli_counts`` of every series."""
    since, until = T0 - timedelta(hours=1), T0 + timedelta(hours=7)
    out: dict[str, dict[tuple[str, str, str], list[tuple[int, int, int, int]]]] = {
        s.name: {} for s in SLOS
    }
    labels = {(r["probe"], r["target"], r["runner"]) for r in store.rounds_between(since, until)}
    for slo in SLOS:
        for probe, target, runner in sorted(labels):
            where = Filters(target=target, probe=probe, runner=runner)
            segs = [[0, 0, 0, 0] for _ in range(len(bounds) + 1)]
            for b in store.sli_counts(slo, since, until, where, bucket_s=60):
                m = epoch_minute(b.start)
                i = sum(m >= x for x in bounds)
                off = any(a <= m < e and t in (None, target) for a, e, t in paused)
                segs[i][0] += b.good
                segs[i][1] += b.valid
                segs[i][2] += 0 if off else b.good
                segs[i][3] += 0 if off else b.valid
            if any(s[1] for s in segs):
                out.setdefault(slo.name, {})[probe, target, runner] = [tuple(s) for s in segs]  # type: ignore[misc]
    return out


def hour_tables_match_their_minutes(url: str) -> None:
    engine = create_engine(url)
    hour = "(minute / 60) * 60"
    try:
        with engine.connect() as conn:
            cache = f"SELECT sli, threshold, operation, {hour}, probe, target, runner, SUM(good), SUM(valid) FROM sli_minute_cache GROUP BY sli, threshold, operation, {hour}, probe, target, runner"  # noqa: E501
            hours = "SELECT sli, threshold, operation, minute, probe, target, runner, good, valid FROM sli_hour_cache"  # noqa: E501
            assert sorted(conn.execute(text(cache))) == sorted(conn.execute(text(hours)))
            # an hour is covered exactly when all 60 of its minutes are
            whole = f"SELECT sli, threshold, operation, {hour} FROM sli_minute_coverage GROUP BY sli, threshold, operation, {hour} HAVING COUNT(*) = 60"  # noqa: E501
            covered = "SELECT sli, threshold, operation, minute FROM sli_hour_coverage"
            assert sorted(conn.execute(text(whole))) == sorted(conn.execute(text(covered)))
            # a day row is the sum of its hours; a day is covered when all 24 hours are
            day = "(minute / 1440) * 1440"
            cache = f"SELECT sli, threshold, operation, {day}, probe, target, runner, SUM(good), SUM(valid) FROM sli_hour_cache GROUP BY sli, threshold, operation, {day}, probe, target, runner"  # noqa: E501
            days = "SELECT sli, threshold, operation, minute, probe, target, runner, good, valid FROM sli_day_cache"  # noqa: E501
            assert sorted(conn.execute(text(cache))) == sorted(conn.execute(text(days)))
            whole = f"SELECT sli, threshold, operation, {day} FROM sli_hour_coverage GROUP BY sli, threshold, operation, {day} HAVING COUNT(*) = 24"  # noqa: E501
            covered = "SELECT sli, threshold, operation, minute FROM sli_day_coverage"
            assert sorted(conn.execute(text(whole))) == sorted(conn.execute(text(covered)))
            names = SESSION_COUNTS
            sessions: Counter[tuple[object, ...]] = Counter()
            summed = f"SELECT {hour}, probe, target, runner, {', '.join(f'SUM({n})' for n in names)} FROM session_rollup_minute GROUP BY {hour}, probe, target, runner"  # noqa: E501
            for h, p, t, r, *values in conn.execute(text(summed)):
                for n, v in zip(names, values, strict=True):
                    sessions[h, p, t, r, n] += int(v)
            auth = f"SELECT {hour}, probe, target, runner, COUNT(*), SUM(CASE WHEN auth_ok THEN 1 ELSE 0 END) FROM rounds WHERE auth_ok IS NOT NULL GROUP BY {hour}, probe, target, runner"  # noqa: E501
            for h, p, t, r, checks, ok in conn.execute(text(auth)):
                sessions[h, p, t, r, "auth_checks"] += int(checks)
                sessions[h, p, t, r, "auth_ok"] += int(ok)
            stored: Counter[tuple[object, ...]] = Counter()
            for row in conn.execute(select(tables.session_rollup_hour)):
                for n in (*names, "auth_checks", "auth_ok"):
                    stored[row.minute, row.probe, row.target, row.runner, n] += row._mapping[n]
            assert +stored == +sessions
            # and a day's session counts are the sums of its hours'
            days: Counter[tuple[object, ...]] = Counter()
            for key, n in stored.items():
                days[(int(str(key[0])) // 1440 * 1440, *key[1:])] += n
            by_day: Counter[tuple[object, ...]] = Counter()
            for row in conn.execute(select(tables.session_rollup_day)):
                for n in (*names, "auth_checks", "auth_ok"):
                    by_day[row.minute, row.probe, row.target, row.runner, n] += row._mapping[n]
            assert +by_day == +days
    finally:
        engine.dispose()


def test_exporter_sums_from_hours_equal_the_minute_counts(store_url: str) -> None:
    rounds = history()
    late = rounds.pop(40)  # saved last, into an hour already counted
    with ResultStore.open(store_url) as store:
        store.track_slis(SLOS[:6])  # some definitions tracked, the others filled by reads
        store.save_rounds(rounds[:60])
        for r in rounds[60:]:
            store.save_round(r)
        store.save_round(late)
        until = epoch_minute(T0) + 5 * 60 + 17
        bounds = [until - w for w in (4 * 60, 2 * 60 + 30, 60, 30, 5)]
        paused = [(epoch_minute(T0) + 95, epoch_minute(T0) + 130, "ws://a/ws"),
                  (epoch_minute(T0) + 200, epoch_minute(T0) + 201, None)]  # fmt: skip
        got = store.slo_segments(SLOS, bounds, paused, T0 + timedelta(hours=6))
        assert got == expected(store, bounds, paused)
        assert got == store.slo_segments(SLOS, bounds, paused, T0 + timedelta(hours=6))
    hour_tables_match_their_minutes(store_url)


ROLLED_UP = (
    tables.session_rollup_hour, tables.sli_hour_cache, tables.sli_hour_coverage,
    tables.sli_day_cache, tables.sli_day_coverage, tables.session_rollup_day,
)  # fmt: skip


def test_the_migration_fills_the_hour_tables_as_the_writer_does(
    store_url: str, tmp_path: Path
) -> None:
    rounds = history()[:50] + days_of_history()
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    with ResultStore.open(reference) as written:
        written.track_slis(SLOS)
        written.save_rounds(rounds)
    with ResultStore(
        store_url if not store_url.startswith("sqlite") else _folder(store_url)
    ) as store:
        store.upgrade("0010")
    source, target = create_engine(reference), create_engine(store_url)
    try:
        with source.connect() as a, target.begin() as b:
            copied = (
                tables.rounds, tables.session_rollup, tables.sli_minute_cache,
                tables.sli_minute_coverage,
            )  # fmt: skip
            for table in copied:
                rows = [dict(row._mapping) for row in a.execute(select(table))]
                b.execute(insert(table), rows)
            before = {t.name: sorted(tuple(row) for row in a.execute(select(t))) for t in ROLLED_UP}
    finally:
        source.dispose()
    with ResultStore(store_url) as store:
        store.upgrade()
    try:
        with target.connect() as b:
            after = {t.name: sorted(tuple(row) for row in b.execute(select(t))) for t in ROLLED_UP}
    finally:
        target.dispose()
    assert all(before.values())  # each table has rows (days: 0015, from the hours)
    assert after == before
    hour_tables_match_their_minutes(store_url)


def _folder(url: str) -> str:
    Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return url


def test_pruning_keeps_the_hours_after_the_cutoff(store: ResultStore) -> None:
    store.track_slis(SLOS)
    store.save_rounds(history())
    cutoff = T0 + timedelta(hours=2, minutes=20)
    store.prune(cutoff, cutoff)
    with store._engine.connect() as conn:
        for table in (tables.session_rollup_hour, tables.sli_hour_cache):
            hours = set(conn.execute(select(table.c.minute)).scalars())
            assert min(hours) == epoch_minute(T0) + 120, table  # the cutoff's hour stays whole
        covered = set(conn.execute(select(tables.sli_hour_coverage.c.minute)).scalars())
        assert min(covered) == epoch_minute(T0) + 180  # the cutoff's hour lost minutes


def test_hourly_and_daily_buckets_read_hours_and_equal_the_minute_buckets(
    store_url: str,
) -> None:
    rounds = history()
    with ResultStore.open(store_url) as store:
        store.track_slis(SLOS[:6])
        store.save_rounds(rounds[:70])
        for r in rounds[70:]:
            store.save_round(r)
        since = T0 + timedelta(minutes=17, seconds=30)  # inside an hour, off the minute
        until = T0 + timedelta(hours=4, minutes=41)
        for slo in SLOS:
            for where in (Filters(), Filters(probe="p1", runner="us-1")):
                minutes = store.sli_counts(slo, since, until, where, bucket_s=60)
                for width in (3600, 86400):
                    good: Counter[datetime] = Counter()
                    valid: Counter[datetime] = Counter()
                    for b in minutes:
                        start = datetime.fromtimestamp(b.start.timestamp() // width * width, UTC)
                        good[start] += b.good
                        valid[start] += b.valid
                    got = store.sli_counts(slo, since, until, where, bucket_s=width)
                    assert [(b.start, b.good, b.valid) for b in got] == [
                        (s, good[s], valid[s]) for s in sorted(valid) if valid[s]
                    ], (slo.name, where, width)


def test_day_buckets_read_the_day_rows_and_equal_the_minute_buckets(store_url: str) -> None:
    rounds = days_of_history()
    late = rounds.pop()  # saved last, into a day already counted whole
    midnight = T0 - timedelta(hours=9)
    with ResultStore.open(store_url) as store:
        store.track_slis(SLOS)
        store.save_rounds(rounds)
        store.save_round(late)
        statements: list[str] = []
        listen = lambda *args: statements.append(str(args[2]))  # noqa: E731
        event.listen(store._engine, "before_cursor_execute", listen)
        since, until = midnight + timedelta(hours=5, seconds=30), midnight + timedelta(days=3.4)
        for slo in SLOS:
            for where in (Filters(), Filters(runner="us-1")):
                minutes = store.sli_counts(slo, since, until, where, bucket_s=60)
                good: Counter[datetime] = Counter()
                valid: Counter[datetime] = Counter()
                for b in minutes:
                    day = datetime.fromtimestamp(b.start.timestamp() // 86400 * 86400, UTC)
                    good[day] += b.good
                    valid[day] += b.valid
                statements.clear()
                got = store.sli_counts(slo, since, until, where, bucket_s=86400)
                assert [(b.start, b.good, b.valid) for b in got] == [
                    (d, good[d], valid[d]) for d in sorted(valid) if valid[d]
                ], (slo.name, where)
                # the two whole days inside come from their day rows
                if slo.sli in CACHED_SLIS:
                    assert any("FROM sli_day_cache" in q for q in statements), slo.name
                    assert any("FROM sli_day_coverage" in q for q in statements), slo.name
                elif slo.sli in SESSION_COUNT_SLIS:
                    assert any("FROM session_rollup_day" in q for q in statements), slo.name
        event.remove(store._engine, "before_cursor_execute", listen)
    hour_tables_match_their_minutes(store_url)


def test_pruning_keeps_the_days_after_the_cutoff(store: ResultStore) -> None:
    store.track_slis(SLOS)
    store.save_rounds(days_of_history())
    midnight = epoch_minute(T0 - timedelta(hours=9))
    cutoff = T0 - timedelta(hours=9) + timedelta(days=1, hours=3)
    store.prune(cutoff, cutoff)
    with store._engine.connect() as conn:
        for table in (tables.session_rollup_day, tables.sli_day_cache):
            days = set(conn.execute(select(table.c.minute)).scalars())
            assert min(days) == midnight + 1440, table  # the cutoff's day stays whole
        covered = set(conn.execute(select(tables.sli_day_coverage.c.minute)).scalars())
        assert min(covered) == midnight + 2 * 1440  # the cutoff's day lost hours
