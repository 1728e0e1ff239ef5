"""Day and hour buckets where minutes cannot change the answer: the all-minute answer,
on SQLite and PostgreSQL, per location, across odd window edges and maintenance."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from probes.config import AlertSettings, Settings, SloSettings
from probes.judging import evaluation, slo
from probes.records import (
    Annotation,
    AuthCheck,
    DbTiming,
    Filters,
    MemorySample,
    RoundResult,
    SessionResult,
)
from probes.results import ResultStore
from tests.store.conftest import STORES
from tests.support.databases import fresh_pg_schema

END = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
WINDOW = 9 * 86400.0
OBJECTIVES = [
    SloSettings("success", "session_success", 99.0, window_s=WINDOW),
    SloSettings("complete", "event_completeness", 99.0, window_s=WINDOW),
    SloSettings("first", "first_event_latency", 95.0, window_s=WINDOW, threshold_ms=300.0),
    SloSettings("growth", "memory_growth", 99.0, window_s=WINDOW, threshold_mb=30.0),
    SloSettings("db", "db_latency", 90.0, window_s=WINDOW, threshold_ms=40.0,
                operation="thread_create"),
    SloSettings("auth", "auth_rejection", 100.0, window_s=WINDOW),
]  # fmt: skip
RUNNERS = ("eu-1", "us-1")


def history() -> list[RoundResult]:
    """Two locations, a round every 70 minutes for 10 days each, failing now and then."""
    out = []
    for k in range(10 * 24 * 60 // 70):
        for n, runner in enumerate(RUNNERS):
            at = END - 10 * D + timedelta(minutes=70 * k + 23 * n, seconds=k % 60, microseconds=9)
            run = f"d{k}-{runner}"
            bad = (k + 3 * n) % 13 == 0
            users = tuple(
                SessionResult(
                    run, "chat", "ws://a/ws", runner, f"u{i}", "header",
                    at + timedelta(seconds=11 * i), connect_ms=2.0,
                    first_event_ms=100.0 + 83 * ((k + i + n) % 5),
                    close_code=1011 if bad and i == 0 else 1000,
                    outcome="failed" if bad and i == 0 else "ok",
                )
                for i in range(2)
            )  # fmt: skip
            timing = DbTiming("thread_create", 20.0 + 9 * ((k + n) % 4), None, True)
            out.append(RoundResult(
                run, "chat", "ws://a/ws", runner, at, at, "passed", sessions=users,
                db_timings=(timing,), auth_check=AuthCheck(401, None, (k + n) % 29 != 0),
                memory_samples=(MemorySample(at, 100.0),
                                MemorySample(at, 110.0 + 25 * ((k + n) % 3 == 0))),
            ))  # fmt: skip
    return out


MAINTENANCE = (
    # across a midnight, at odd minutes; half a minute; an open one in the alert lookback
    Annotation("maintenance", END - 5 * D - 13 * H + timedelta(minutes=7),
               END - 5 * D - 11 * H + timedelta(minutes=41), "over midnight"),
    Annotation("maintenance", END - 7 * D + timedelta(seconds=30),
               END - 7 * D + timedelta(minutes=1), "half a minute"),
    Annotation("maintenance", END - 50 * H, None, "still open"),
)  # fmt: skip


@pytest.fixture(scope="module", params=STORES)
def filled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ResultStore]:
    def opened(url: str) -> Iterator[ResultStore]:
        with ResultStore.open(url) as store:
            store.track_slis(OBJECTIVES)
            store.save_rounds(history())
            yield store

    if request.param == "sqlite":
        yield from opened(f"sqlite:///{tmp_path_factory.mktemp('days') / 'd.db'}")
        return
    with fresh_pg_schema() as url:
        yield from opened(url)


def all_minutes(
    store: ResultStore,
    objective: SloSettings,
    since: datetime,
    until: datetime,
    where: Filters,
    maintenance: tuple[Annotation, ...],
) -> slo.SloResult:
    """The reference: every bucket one minute wide, judged by ``slo.evaluate``."""
    start = evaluation.floor_to_bucket(since)
    every_minute = store.sli_counts(
        objective, min(start, until - evaluation.ALERT_LOOKBACK), until, where, bucket_s=60
    )
    return slo.evaluate(
        objective, every_minute, since=start, until=until, width_s=60, maintenance=maintenance,
        coverage=1.0, alerts=AlertSettings(min_samples=1),
    )  # fmt: skip


@pytest.mark.parametrize("objective", OBJECTIVES, ids=[o.name for o in OBJECTIVES])
@pytest.mark.parametrize("where", [Filters(), Filters(runner="us-1")], ids=["pooled", "us-1"])
@pytest.mark.parametrize(
    ("since", "until", "maintenance"),
    [
        (END - 9 * D - timedelta(minutes=17, seconds=5), END - timedelta(minutes=7), ()),
        (END - 9 * D - timedelta(minutes=17, seconds=5), END - timedelta(minutes=7), MAINTENANCE),
        (END - 8 * D - 5 * H - timedelta(seconds=1), END + timedelta(hours=3, minutes=1),
         MAINTENANCE[:2]),
    ],
    ids=["clean", "maintenance", "other-edges"],
)  # fmt: skip
def test_day_and_hour_buckets_give_the_all_minute_answer(
    filled: ResultStore,
    objective: SloSettings,
    where: Filters,
    since: datetime,
    until: datetime,
    maintenance: tuple[Annotation, ...],
) -> None:
    settings = Settings(slos=(objective,), alerts=AlertSettings(min_samples=1))
    got = evaluation.evaluate_objective(
        filled, settings, objective, since=since, until=until, filters=where,
        maintenance=maintenance, coverage=1.0,
    )  # fmt: skip
    assert got == all_minutes(filled, objective, since, until, where, maintenance)
    assert got.valid > 0
    assert got.good < got.valid or objective.name == "complete"
    if maintenance:
        assert got.excluded_buckets > 0


def test_the_split_reads_whole_days_inside_and_minutes_at_the_edges() -> None:
    since = END - 9 * D - timedelta(minutes=17, seconds=5)
    spans = evaluation._spans(since, since, END - timedelta(minutes=7), MAINTENANCE)
    days = [(a, b) for a, b, width in spans if width == 86400]
    midnight = datetime(2025, 3, 1, tzinfo=UTC)
    # days touched by maintenance (3 and 4-5 March) and the alert lookback stay finer
    assert days == [(midnight + D, midnight + 2 * D), (midnight + 5 * D, midnight + 6 * D)]
    assert spans[0] == (since, END - 9 * D, 60)
    assert spans[-1][2] == 60
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))


@pytest.mark.parametrize("store_kind", STORES)
def test_a_round_saved_late_into_covered_hours_is_counted(
    store_kind: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A late round uncovers its minute and so its hour: the next read counts it.

    The objective is not tracked, so ``save_round`` does not count it again: the
    read finds the hole (through the hour coverage) and fills it.
    """
    rounds = history()
    late = rounds.pop(len(rounds) // 2)
    objective = OBJECTIVES[2]  # a threshold SLI: read from the cache
    since, until = END - 9 * D, END - timedelta(minutes=7)

    def check(store: ResultStore) -> None:
        store.save_rounds(rounds)
        assert store.sli_counts(objective, since, until, bucket_s=86400)  # fills, covers
        store.save_round(late)
        raw = Filters(run_ids=tuple(r.run_id for r in [*rounds, late]))
        for width in (60, 3600, 86400):
            got = store.sli_counts(objective, since, until, bucket_s=width)
            assert got == store.sli_counts(objective, since, until, raw, bucket_s=width), width

    if store_kind == "sqlite":
        with ResultStore.open(f"sqlite:///{tmp_path_factory.mktemp('late') / 'l.db'}") as s:
            check(s)
        return
    with fresh_pg_schema() as url, ResultStore.open(url) as store:
        check(store)


AGGREGATED = [
    *OBJECTIVES,
    SloSettings("any-success", "session_success", 99.0, window_s=WINDOW, aggregate="any"),
    SloSettings("quorum-first", "first_event_latency", 95.0, window_s=WINDOW,
                threshold_ms=300.0, aggregate="quorum:1"),
]  # fmt: skip


@pytest.mark.parametrize("where", [Filters(), Filters(probe="chat")], ids=["all", "probe"])
def test_one_grouped_read_gives_each_location_what_judging_it_alone_gives(
    filled: ResultStore, where: Filters
) -> None:
    """The pooled verdict and every location's (a label without rounds too) from one
    grouped read are what ``evaluate_window`` gives with that location as the filter."""
    settings = Settings(slos=tuple(AGGREGATED), alerts=AlertSettings(min_samples=1))
    since, until = END - 9 * D - timedelta(minutes=17, seconds=5), END - timedelta(minutes=7)
    runners = (*RUNNERS, "ap-1")
    pooled, each = evaluation.evaluate_locations(
        filled, settings, since=since, until=until, runners=runners, filters=where
    )
    assert pooled == evaluation.evaluate_window(
        filled, settings, since=since, until=until, filters=where
    )
    for runner in runners:
        alone = Filters(where.target, where.probe, runner)
        expected = evaluation.evaluate_window(
            filled, settings, since=since, until=until, filters=alone
        )
        assert each[runner] == expected, runner
    assert {r.status for r in each["ap-1"].results} == {"no data"}
    us, eu = each["us-1"].results, each["eu-1"].results
    assert [r.valid for r in pooled.results[:5]] == [
        a.valid + b.valid for a, b in zip(us[:5], eu[:5], strict=True)
    ]
    assert any(a.good != b.good for a, b in zip(us, eu, strict=True))
