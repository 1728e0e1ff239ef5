"""Hourly buckets where minutes cannot change the answer: the same result as all minutes."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from probes.config import AlertSettings, Settings, SloSettings
from probes.judging import evaluation, slo
from probes.records import Annotation, AuthCheck, DbTiming, Filters, RoundResult, SessionResult
from probes.results import ResultStore

END = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
OBJECTIVES = [
    SloSettings("success", "session_success", 99.0, window_s=6 * 86400.0),
    SloSettings("first", "first_event_latency", 95.0, window_s=6 * 86400.0, threshold_ms=300.0),
    SloSettings("db", "db_latency", 90.0, window_s=5 * 86400.0, threshold_ms=40.0,
                operation="thread_create"),
    SloSettings("auth", "auth_rejection", 100.0, window_s=6 * 86400.0),
]  # fmt: skip


def history() -> list[RoundResult]:
    """A round every 50 minutes for 6 days, failing now and then, sessions at odd seconds."""
    out = []
    for k in range(6 * 24 * 60 // 50):
        at = END - 6 * 24 * H + timedelta(minutes=50 * k, seconds=k % 60, microseconds=17)
        users = tuple(
            SessionResult(
                f"h{k}",
                "chat",
                "ws://a/ws",
                "eu-1",
                f"u{i}",
                "header",
                at + timedelta(seconds=7 * i),
                connect_ms=2.0,
                first_event_ms=100.0 + 97 * ((k + i) % 5),
                close_code=1011 if (k + i) % 17 == 0 else 1000,
                outcome="failed" if (k + i) % 17 == 0 else "ok",
            )
            for i in range(2)
        )
        timing = DbTiming("thread_create", 20.0 + 7 * (k % 4), None, True)
        out.append(RoundResult(f"h{k}", "chat", "ws://a/ws", "eu-1", at, at, "passed",
                               sessions=users, db_timings=(timing,),
                               auth_check=AuthCheck(401, None, k % 23 != 0)))  # fmt: skip
    return out


MAINTENANCE = (
    # inside the hourly part, at odd minutes; one backwards window that covers nothing
    Annotation("maintenance", END - 100 * H + timedelta(minutes=13),
               END - 98 * H + timedelta(minutes=41), "failover drill"),
    Annotation("maintenance", END - 120 * H + timedelta(seconds=30),
               END - 120 * H + timedelta(minutes=1), "half a minute"),
    Annotation("maintenance", END - 110 * H, END - 111 * H, "backwards"),
)  # fmt: skip


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ResultStore]:
    with ResultStore.open(f"sqlite:///{tmp_path_factory.mktemp('verdict') / 'v.db'}") as store:
        for r in history():
            store.save_round(r)
        yield store


@pytest.mark.parametrize("objective", OBJECTIVES, ids=[o.name for o in OBJECTIVES])
@pytest.mark.parametrize(
    ("window", "until", "maintenance"),
    [
        (None, END, ()),
        (None, END - timedelta(minutes=7, seconds=3), MAINTENANCE),
        (timedelta(days=5, seconds=37), END - H, MAINTENANCE),
        (3 * H, END, MAINTENANCE),  # shorter than the alert lookback: minutes only
        (None, END + timedelta(minutes=30), (*MAINTENANCE,
            Annotation("maintenance", END - 80 * H, None, "still open"))),
    ],
)  # fmt: skip
def test_coarse_buckets_give_the_all_minute_answer(
    filled: ResultStore,
    objective: SloSettings,
    window: timedelta | None,
    until: datetime,
    maintenance: tuple[Annotation, ...],
) -> None:
    settings = Settings(slos=(objective,), alerts=AlertSettings(min_samples=1))
    since = until - (window or timedelta(seconds=objective.window_s))
    got = evaluation.evaluate_objective(
        filled, settings, objective, since=since, until=until, filters=Filters(),
        maintenance=maintenance, coverage=1.0,
    )  # fmt: skip
    start = evaluation.floor_to_bucket(since)
    every_minute = filled.sli_counts(
        objective, min(start, until - evaluation.ALERT_LOOKBACK), until, bucket_s=60
    )
    expected = slo.evaluate(
        objective, every_minute, since=start, until=until, width_s=60,
        maintenance=maintenance, coverage=1.0, alerts=settings.alerts,
    )  # fmt: skip
    assert got == expected
    assert got.valid > 0
    if maintenance and window is None:
        assert got.excluded_buckets > 0


def test_only_whole_clean_hours_before_the_lookback_are_coarse() -> None:
    since = END - 4 * 24 * H + timedelta(minutes=20)
    note = Annotation("maintenance", END - 90 * H + timedelta(minutes=5), END - 89 * H, "m")
    spans = evaluation._spans(since, since, END, (note,))
    hourly = [(a, b) for a, b, width in spans if width == 3600]
    assert hourly == [
        (END - 4 * 24 * H + H, END - 90 * H),
        (END - 89 * H, END - 72 * H),
    ]
    assert spans[0] == (since, END - 4 * 24 * H + H, 60)
    assert spans[-1] == (END - 72 * H, END, 60)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
