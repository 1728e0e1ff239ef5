"""The results store against real databases: records in, the same records and counts out."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from probes.config import DEFAULT_EVENTS, Sli, SloSettings
from probes.judging import breaches
from probes.records import (
    Annotation,
    AuthCheck,
    DbTiming,
    Event,
    Filters,
    MemorySample,
    RoundResult,
    RoundStatus,
    SessionResult,
    SliBucket,
)
from probes.results import ResultStore, RoundNotSaved

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
S = timedelta(seconds=1)
M = timedelta(minutes=1)


def events(types: tuple[str, ...] = DEFAULT_EVENTS) -> tuple[Event, ...]:
    return tuple(
        Event(t, 50.0 + 10 * i, seq=i + 1, server_ts=1.74e12 + i) for i, t in enumerate(types)
    )


def session(user: str = "u1", at: datetime = T0, **changes: Any) -> SessionResult:
    """A session that passed; ``changes`` make it fail the way a test needs."""
    ok = SessionResult(
        run_id="r1",
        probe="chat",
        target="ws://a/ws",
        runner="eu-1",
        user_id=user,
        auth_mode="header",
        started_at=at,
        connect_ms=5.0,
        first_event_ms=100.0,
        completion_ms=1000.0,
        total_ms=1100.0,
        close_code=1000,
        events=events(),
        agent_run_id=f"run-{user}",
        db_ms={"message_batch": 3.5},
        outcome="ok",
    )
    return replace(ok, **changes)


def round_(
    run_id: str = "r1",
    at: datetime = T0,
    sessions: tuple[SessionResult, ...] = (),
    *,
    status: RoundStatus = "passed",
    probe: str = "chat",
    target: str = "ws://a/ws",
    runner: str = "eu-1",
    **changes: Any,
) -> RoundResult:
    own = tuple(
        replace(s, run_id=run_id, probe=probe, target=target, runner=runner) for s in sessions
    )
    return RoundResult(
        run_id, probe, target, runner, at, at + 30 * S, status, sessions=own, **changes
    )


def shifted(r: RoundResult, run_id: str, by: timedelta) -> RoundResult:
    """The same round under another run id, ``by`` later."""
    return replace(
        r,
        run_id=run_id,
        started_at=r.started_at + by,
        finished_at=r.finished_at + by,
        sessions=tuple(replace(s, run_id=run_id, started_at=s.started_at + by) for s in r.sessions),
        memory_samples=tuple(replace(m, at=m.at + by) for m in r.memory_samples),
    )


REFUSED: dict[str, Any] = {
    "connect_ms": None,
    "first_event_ms": None,
    "completion_ms": None,
    "close_code": None,
    "http_status": 401,
    "events": (),
    "missing_events": DEFAULT_EVENTS,
    "outcome": "failed",
    "reason": "refused",
    "error": "HTTP 401",
}


def full_round() -> RoundResult:
    """A round using every field a record has."""
    return round_(
        "r-full",
        T0,
        (
            session("u1", T0, db_ms={"message_batch": 3.5, "result_store": 1.25}),
            session(
                "u2",
                T0 + 2 * S,
                completion_ms=None,
                close_code=1011,
                close_reason="internal error",
                sent_close_code=1000,
                events=(
                    *events(DEFAULT_EVENTS[:2]),
                    Event("agent_started", 70.0, None, None, True),
                ),
                missing_events=("tool_executing", "tool_completed", "agent_completed"),
                order_ok=False,
                seq_gaps=2,
                foreign_events=1,
                agent_run_id=None,
                db_ms={},
                outcome="failed",
                reason="closed_abnormally",
                error="closed 1011",
            ),
            session("u3", T0 + 3 * S, auth_mode="subprotocol", **REFUSED),
        ),
        status="failed",
        reason="",
        auth_check=AuthCheck(401, None, True, ""),
        db_timings=(
            DbTiming("thread_create", 12.5, 3.0, True),
            DbTiming("message_batch", None, None, False, "timeout"),
        ),
        memory_samples=(MemorySample(T0, 100.0), MemorySample(T0 + 10 * S, 140.25)),
        memory_source="healthz",
    )


# --- round trip and atomicity --------------------------------------------------------


def test_a_saved_round_comes_back_equal(store: ResultStore) -> None:
    saved = full_round()
    store.save_round(saved)
    assert store.round("r-full") == saved
    assert store.round("unknown") is None


def test_times_come_back_as_aware_utc(store: ResultStore) -> None:
    paris = timezone(timedelta(hours=1))
    at = datetime(2025, 3, 1, 13, 0, 0, 123456, tzinfo=paris)
    store.save_round(round_("r1", at, (session("u1", at),)))
    back = store.round("r1")
    assert back is not None
    for value in (back.started_at, back.finished_at, back.sessions[0].started_at):
        assert value.tzinfo is UTC
    assert back.started_at == datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert store.first_round_at() == back.started_at
    assert store.sessions_between(T0, T0 + HOUR)[0]["started_at"] == "2025-03-01T12:00:00.123456Z"


def test_a_naive_time_is_refused(store: ResultStore) -> None:
    naive = round_("r1", T0.replace(tzinfo=None))
    with pytest.raises(RoundNotSaved, match="timezone-aware"):
        store.save_round(naive)
    assert store.round("r1") is None


def test_saving_a_run_id_twice_fails_and_keeps_the_first(store: ResultStore) -> None:
    first = round_("r1", T0, (session("u1"),))
    store.save_round(first)
    with pytest.raises(RoundNotSaved, match="'r1' not saved"):
        store.save_round(round_("r1", T0, (session("u2"), session("u3", **REFUSED))))
    assert store.round("r1") == first
    assert [s["user_id"] for s in store.sessions_between(T0, T0 + HOUR)] == ["u1"]
    success = SloSettings("s", "session_success", 99.0)
    assert store.sli_counts(success, T0, T0 + HOUR, bucket_s=3600) == [SliBucket(T0, 1, 1)]


def test_a_round_failing_midway_leaves_nothing_behind(store: ResultStore) -> None:
    # The second session names a round that does not exist: the foreign key
    # fails after the round row and the first session were inserted.
    good = round_("r2", T0, (session("u1"),))
    broken = replace(good, sessions=(*good.sessions, session("u2", run_id="no-such-round")))
    with pytest.raises(RoundNotSaved, match="'r2' not saved"):
        store.save_round(broken)
    assert store.round("r2") is None
    assert store.sessions_between(T0, T0 + HOUR) == []
    assert store.round_counts(T0, T0 + HOUR) == {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    success = SloSettings("s", "session_success", 99.0)
    assert store.sli_counts(success, T0, T0 + HOUR) == []


# --- SLIs ------------------------------------------------------------------------------


def sli_rounds() -> list[RoundResult]:
    return [
        round_(
            "a",
            T0,
            (
                session("1"),
                session("2", T0 + 1 * S, first_event_ms=600.0, completion_ms=6000.0),
                session(
                    "3",
                    T0 + 2 * S,
                    first_event_ms=80.0,
                    completion_ms=None,
                    close_code=1011,
                    events=events(DEFAULT_EVENTS[:3]),
                    missing_events=DEFAULT_EVENTS[3:],
                    outcome="failed",
                    reason="closed_abnormally",
                ),
                session("4", T0 + 3 * S, **REFUSED),
                session(
                    "5",
                    T0 + 4 * S,
                    first_event_ms=90.0,
                    completion_ms=1500.0,
                    foreign_events=2,
                    outcome="failed",
                    reason="isolation_breach",
                ),
                session(
                    "6",
                    T0 + 5 * S,
                    first_event_ms=120.0,
                    completion_ms=1200.0,
                    order_ok=False,
                    outcome="failed",
                    reason="out_of_order",
                ),
                session(
                    "7",
                    T0 + 6 * S,
                    first_event_ms=None,
                    completion_ms=None,
                    close_code=1006,
                    events=(),
                    missing_events=DEFAULT_EVENTS,
                    outcome="failed",
                    reason="timeout",
                ),
            ),
            status="failed",
            auth_check=AuthCheck(401, None, True),
            db_timings=(
                DbTiming("thread_create", 25.0, 20.0, True),
                DbTiming("message_batch", 8.0, 5.0, True),
            ),
            memory_samples=(MemorySample(T0, 100.0), MemorySample(T0 + 5 * S, 130.0)),
        ),
        round_(
            "b",
            T0 + 5 * M,
            status="failed",
            auth_check=AuthCheck(None, 1011, False, "closed 1011"),
            db_timings=(DbTiming("thread_create", 70.0, None, True),),
            memory_samples=(MemorySample(T0 + 5 * M, 100.0), MemorySample(T0 + 6 * M, 180.0)),
        ),
        round_(
            "c",
            T0 + 10 * M,
            (session("8", T0 + 10 * M, **REFUSED),),  # an error round's sessions are not counted
            status="error",
            reason="memory sampler crashed",
            db_timings=(DbTiming("thread_create", 12.0, 10.0, False, "deadlock"),),
            memory_samples=(MemorySample(T0 + 10 * M, 100.0),),
        ),
        round_("d", T0 + 15 * M, status="skipped", reason="previous round overran"),
    ]


SLI_CASES = [
    (SloSettings("s", "session_success", 99.9), 2, 7),
    (SloSettings("s", "event_completeness", 99.9), 3, 7),
    (SloSettings("s", "no_internal_errors", 99.9), 6, 7),
    (SloSettings("s", "isolation", 100.0), 6, 7),
    (SloSettings("s", "first_event_latency", 99.0, threshold_ms=500.0), 4, 6),
    (SloSettings("s", "completion_latency", 99.0, threshold_ms=5000.0), 3, 6),
    (SloSettings("s", "memory_growth", 100.0, threshold_mb=50.0), 1, 2),
    (SloSettings("s", "db_latency", 99.0, threshold_ms=50.0, operation="thread_create"), 1, 3),
    (SloSettings("s", "db_latency", 99.0, threshold_ms=50.0, operation="message_batch"), 1, 1),
    (SloSettings("s", "auth_rejection", 100.0), 1, 2),
]


@pytest.mark.parametrize(
    ("slo", "good", "valid"),
    SLI_CASES,
    ids=[f"{slo.sli}-{slo.operation}" if slo.operation else slo.sli for slo, _, _ in SLI_CASES],
)
def test_sli_counts_good_and_valid_events(
    store: ResultStore, slo: SloSettings, good: int, valid: int
) -> None:
    for r in sli_rounds():
        store.save_round(r)
    assert store.sli_counts(slo, T0, T0 + HOUR, bucket_s=3600) == [SliBucket(T0, good, valid)]
    by_run = Filters(run_ids=("a", "b", "c", "d"))  # a run_ids filter reads raw rows only
    assert store.sli_counts(slo, T0, T0 + HOUR, by_run, 3600) == [SliBucket(T0, good, valid)]
    assert store.sli_counts(slo, T0 + HOUR, T0 + 2 * HOUR) == []


def test_sli_buckets_are_aligned_to_the_epoch(store: ResultStore) -> None:
    store.save_round(round_("r1", T0, (session("1", T0 + 10 * S), session("2", T0 + 70 * S))))
    store.save_round(round_("r2", T0 + 2 * M, (session("3", T0 + 150 * S, **REFUSED),)))
    success = SloSettings("s", "session_success", 99.0)
    assert store.sli_counts(success, T0 + 5 * S, T0 + HOUR, bucket_s=60) == [
        SliBucket(T0, 1, 1),
        SliBucket(T0 + M, 1, 1),
        SliBucket(T0 + 2 * M, 0, 1),
    ]
    assert store.sli_counts(success, T0 + 20 * S, T0 + HOUR, bucket_s=120) == [
        SliBucket(T0, 1, 1),
        SliBucket(T0 + 2 * M, 0, 1),
    ]


def test_a_session_just_before_a_minute_boundary_stays_in_its_bucket(store: ResultStore) -> None:
    at = T0 + timedelta(seconds=59, microseconds=999_600)
    store.save_round(round_("r1", at, (session("1", at),)))
    success = SloSettings("s", "session_success", 99.0)
    for filters in (Filters(), Filters(run_ids=("r1",))):  # rollup, then raw rows
        assert store.sli_counts(success, T0, T0 + HOUR, filters, 60) == [SliBucket(T0, 1, 1)]
    assert [c["start"] for c in store.close_codes(T0, T0 + HOUR, bucket_s=60)] == [T0]


def spread_rounds() -> list[RoundResult]:
    """Sessions every 13 s over 12 minutes, failing in turns, on two probes."""
    out = []
    for k in range(12):
        at = T0 + k * M
        kinds: list[dict[str, Any]] = [
            {},
            {"close_code": 1011, "outcome": "failed"},
            {"foreign_events": 1, "outcome": "failed"},
            {"order_ok": False, "outcome": "failed"},
            REFUSED,
        ]
        items = tuple(
            session(f"u{i}", at + 13 * i * S, **kinds[(i + k) % len(kinds)]) for i in range(5)
        )
        out.append(round_(f"r{k}", at, items, probe="chat" if k % 3 else "tools"))
    return out


@pytest.mark.parametrize(
    "sli", ["session_success", "event_completeness", "no_internal_errors", "isolation"]
)
@pytest.mark.parametrize(
    ("since", "until", "bucket_s"),
    [
        (T0, T0 + HOUR, 60),
        (T0 + 7 * S, T0 + 9 * M + 31 * S, 60),
        (T0 + 7 * S, T0 + 9 * M + 31 * S, 300),
        (T0 + 61 * S, T0 + 62 * S + 40 * S, 60),
        (T0 + 30 * S, T0 + 11 * M, 90),
    ],
)
def test_rollup_and_raw_rows_give_the_same_counts(
    store: ResultStore, sli: Sli, since: datetime, until: datetime, bucket_s: int
) -> None:
    rounds = spread_rounds()
    for r in rounds:
        store.save_round(r)
    slo = SloSettings("s", sli, 99.0)
    raw = Filters(run_ids=tuple(r.run_id for r in rounds))
    expected = store.sli_counts(slo, since, until, raw, bucket_s)
    assert sum(b.valid for b in expected) > 0
    assert store.sli_counts(slo, since, until, bucket_s=bucket_s) == expected
    tools = store.sli_counts(slo, since, until, Filters(probe="tools"), bucket_s)
    chat = replace(slo, probe="chat")
    assert sum(b.valid for b in tools) + sum(
        b.valid for b in store.sli_counts(chat, since, until, bucket_s=bucket_s)
    ) == sum(b.valid for b in expected)


# --- filters ----------------------------------------------------------------------------


def filter_rounds() -> list[RoundResult]:
    pair = (session("ok"), session("bad", T0 + S, **REFUSED))
    return [
        round_("x1", T0, pair, probe="chat", target="ws://a/ws", runner="eu-1"),
        round_("x2", T0 + M, pair, probe="chat", target="ws://b/ws", runner="us-1"),
        round_("x3", T0 + 2 * M, pair, probe="tools", target="ws://a/ws", runner="us-1"),
    ]


@pytest.mark.parametrize(
    ("filters", "runs"),
    [
        (Filters(), ["x1", "x2", "x3"]),
        (Filters(probe="chat"), ["x1", "x2"]),
        (Filters(target="ws://a/ws"), ["x1", "x3"]),
        (Filters(runner="us-1"), ["x2", "x3"]),
        (Filters(probe="chat", runner="us-1"), ["x2"]),
        (Filters(run_ids=("x1", "x3")), ["x1", "x3"]),
        (Filters(run_ids=()), []),
        (Filters(probe="nope"), []),
    ],
)
def test_filters_apply_to_every_read(store: ResultStore, filters: Filters, runs: list[str]) -> None:
    for r in filter_rounds():
        store.save_round(r)
    since, until = T0, T0 + HOUR
    assert sorted(r["run_id"] for r in store.rounds_between(since, until, filters)) == runs
    assert sorted({s["run_id"] for s in store.sessions_between(since, until, filters)}) == runs
    assert sorted({s["run_id"] for s in store.failing_sessions(since, until, filters)}) == runs
    assert sum(store.round_counts(since, until, filters).values()) == len(runs)
    success = SloSettings("s", "session_success", 99.0)
    counts = store.sli_counts(success, since, until, filters, 3600)
    assert counts == ([SliBucket(T0, len(runs), 2 * len(runs))] if runs else [])
    assert sum(c["count"] for c in store.close_codes(since, until, filters, 3600)) == 2 * len(runs)


def test_labels_name_every_probe_target_and_runner(store: ResultStore) -> None:
    assert store.labels() == {"probes": [], "targets": [], "runners": []}
    for r in filter_rounds():
        store.save_round(r)
    assert store.labels() == {
        "probes": ["chat", "tools"],
        "targets": ["ws://a/ws", "ws://b/ws"],
        "runners": ["eu-1", "us-1"],
    }


def test_an_slo_probe_and_the_filters_both_apply(store: ResultStore) -> None:
    for r in filter_rounds():
        store.save_round(r)
    chat = SloSettings("s", "session_success", 99.0, probe="chat")
    assert store.sli_counts(chat, T0, T0 + HOUR, Filters(), 3600) == [SliBucket(T0, 2, 4)]
    assert store.sli_counts(chat, T0, T0 + HOUR, Filters(runner="us-1"), 3600) == [
        SliBucket(T0, 1, 2)
    ]
    assert store.sli_counts(chat, T0, T0 + HOUR, Filters(probe="tools"), 3600) == []


# --- reads for the export and the dashboard -----------------------------------------------


def test_sessions_between_gives_flat_export_rows_in_order(store: ResultStore) -> None:
    store.save_round(round_("r2", T0 + M, (session("b", T0 + M), session("a", T0 + M))))
    store.save_round(full_round())
    rows = store.sessions_between(T0, T0 + HOUR)
    assert [(r["run_id"], r["user_id"]) for r in rows] == [
        ("r-full", "u1"),
        ("r-full", "u2"),
        ("r-full", "u3"),
        ("r2", "a"),
        ("r2", "b"),
    ]
    assert rows[1] == {
        "run_id": "r-full",
        "probe": "chat",
        "profile": "agent-chat-v1",
        "target": "ws://a/ws",
        "runner": "eu-1",
        "user_id": "u2",
        "auth_mode": "header",
        "started_at": "2025-03-01T12:00:02.000000Z",
        "connect_ms": 5.0,
        "first_event_ms": 100.0,
        "completion_ms": None,
        "total_ms": 1100.0,
        "close_code": 1011,
        "close_reason": "internal error",
        "http_status": None,
        "events": ["agent_started", "agent_thinking", "agent_started"],
        "missing_events": ["tool_executing", "tool_completed", "agent_completed"],
        "order_ok": False,
        "foreign_events": 1,
        "outcome": "failed",
        "reason": "closed_abnormally",
        "error": "closed 1011",
    }
    assert rows[2]["events"] == [] and rows[2]["http_status"] == 401
    assert store.sessions_between(T0, T0 + HOUR, limit=2) == rows[:2]
    assert list(store.iter_sessions(T0 + M, T0 + HOUR)) == rows[3:]


def test_exported_times_are_the_stored_instants_in_utc_to_the_microsecond(
    store: ResultStore,
) -> None:
    # Read as the driver gives them (SQLite's text, PostgreSQL's datetime) and rewritten
    # as text: the instants must survive to the microsecond, offsets included.
    plus2 = timezone(timedelta(hours=2))
    cases = {
        "micro": datetime(2025, 3, 1, 14, 0, 5, 123456, tzinfo=plus2),  # 12:00:05.123456Z
        "whole": T0 + 2 * M,
    }
    for run_id, at in cases.items():
        r = round_(run_id, at, (session("u1", at),))
        store.save_round(replace(r, finished_at=at + timedelta(microseconds=7)))
    rounds = {r["run_id"]: r for r in store.rounds_between(T0, T0 + HOUR)}
    assert rounds["micro"]["started_at"] == "2025-03-01T12:00:05.123456Z"
    assert rounds["micro"]["finished_at"] == "2025-03-01T12:00:05.123463Z"
    assert rounds["whole"]["started_at"] == "2025-03-01T12:02:00.000000Z"
    assert rounds["whole"]["finished_at"] == "2025-03-01T12:02:00.000007Z"
    exported = {s["run_id"]: s["started_at"] for s in store.iter_sessions(T0, T0 + HOUR)}
    assert exported == {
        "micro": "2025-03-01T12:00:05.123456Z",
        "whole": "2025-03-01T12:02:00.000000Z",
    }


def test_rounds_between_is_newest_first_with_summaries(store: ResultStore) -> None:
    store.save_round(full_round())
    store.save_round(round_("later", T0 + M, (session("u1", T0 + M),)))
    store.save_round(round_("skip", T0 + 2 * M, status="skipped", reason="previous round overran"))
    rows = store.rounds_between(T0, T0 + HOUR)
    assert [r["run_id"] for r in rows] == ["skip", "later", "r-full"]
    assert rows[0]["reason"] == "previous round overran"
    summary = ("started_at", "status", "sessions_total", "sessions_failed", "auth_ok")
    assert {k: rows[2][k] for k in summary} == {
        "started_at": "2025-03-01T12:00:00.000000Z",
        "status": "failed",
        "sessions_total": 3,
        "sessions_failed": 2,
        "auth_ok": True,
    }
    assert rows[2]["memory_growth_mb"] == 40.25
    assert store.rounds_between(T0, T0 + HOUR, limit=1) == rows[:1]
    assert store.round_counts(T0, T0 + HOUR) == {"passed": 1, "failed": 1, "error": 0, "skipped": 1}
    assert store.first_round_at(Filters(run_ids=("later",))) == T0 + M
    assert store.first_round_at(Filters(probe="nope")) is None


def within_1_percent(rows: list[dict[str, Any]]) -> list[Any]:
    """``rows`` as the histograms give them: every number within 1 % (relative)."""
    return [
        {
            k: v if v is None or isinstance(v, datetime | str) else pytest.approx(v, rel=0.01)
            for k, v in row.items()
        }
        for row in rows
    ]


def test_latency_percentiles_use_nearest_rank(store: ResultStore) -> None:
    items = tuple(
        session(
            f"u{i:02}",
            T0 + i * S,
            first_event_ms=10.0 * i,
            completion_ms=None if i % 2 else 100.0 * i,
        )
        for i in range(1, 21)
    )
    store.save_round(round_("r1", T0, items))
    store.save_round(round_("r2", T0 + HOUR, (session("x", T0 + HOUR, **REFUSED),)))
    assert store.latency_percentiles(T0, T0 + 2 * HOUR, bucket_s=3600) == within_1_percent(
        [
            {
                "start": T0,
                "first_event_count": 20,
                "first_event_p50": 100.0,
                "first_event_p95": 190.0,
                "first_event_p99": 200.0,
                "completion_count": 10,
                "completion_p50": 1000.0,
                "completion_p95": 2000.0,
                "completion_p99": 2000.0,
            },
            {
                "start": T0 + HOUR,
                "first_event_count": 0,
                "first_event_p50": None,
                "first_event_p95": None,
                "first_event_p99": None,
                "completion_count": 0,
                "completion_p50": None,
                "completion_p95": None,
                "completion_p99": None,
            },
        ]
    )


def test_close_codes_db_timings_memory_and_failures(store: ResultStore) -> None:
    for r in sli_rounds():
        store.save_round(r)
    since, until = T0, T0 + HOUR
    assert store.close_codes(since, until, bucket_s=3600) == [
        {"start": T0, "close_code": None, "count": 2},
        {"start": T0, "close_code": 1000, "count": 4},
        {"start": T0, "close_code": 1006, "count": 1},
        {"start": T0, "close_code": 1011, "count": 1},
    ]
    timing = {"start": T0, "operation": "message_batch", "failed": 0, "ms_count": 1}
    assert store.db_timings_between(since, until, bucket_s=3600) == within_1_percent(
        [
            timing | {"ms_p50": 5.0, "ms_p95": 5.0},
            timing
            | {
                "operation": "thread_create",
                "failed": 1,
                "ms_count": 3,
                "ms_p50": 20.0,
                "ms_p95": 70.0,
            },
        ]
    )
    memory = store.memory_by_round(since, until)
    assert [(m["run_id"], m["memory_growth_mb"]) for m in memory] == [
        ("a", 30.0),
        ("b", 80.0),
        ("c", None),
    ]
    assert memory[0]["started_at"] == T0
    failing = store.failing_sessions(since, until, limit=3)
    assert [(f["user_id"], f["reason"]) for f in failing] == [
        ("8", "refused"),
        ("7", "timeout"),
        ("6", "out_of_order"),
    ]
    assert failing[0]["missing_events"] == list(DEFAULT_EVENTS)


def test_memory_buckets_give_the_worst_round_per_bucket(store: ResultStore) -> None:
    for r in sli_rounds():  # growth 30 (peak 130), 80 (peak 180), one sample only (peak 100)
        store.save_round(r)
    assert store.memory_buckets(T0, T0 + HOUR, bucket_s=3600) == [
        {"start": T0, "rounds": 3, "growth_max_mb": 80.0, "peak_max_mb": 180.0}
    ]
    assert store.memory_buckets(T0, T0 + HOUR, bucket_s=300) == [
        {"start": T0, "rounds": 1, "growth_max_mb": 30.0, "peak_max_mb": 130.0},
        {"start": T0 + 5 * M, "rounds": 1, "growth_max_mb": 80.0, "peak_max_mb": 180.0},
        {"start": T0 + 10 * M, "rounds": 1, "growth_max_mb": None, "peak_max_mb": 100.0},
    ]


# --- annotations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("since", "until", "target", "texts"),
    [
        (T0 - HOUR, T0, None, []),
        (T0, T0 + HOUR, None, ["deploy v2"]),
        (T0 + HOUR, T0 + 2 * HOUR, None, ["deploy v2", "db failover"]),
        (T0 + 2 * HOUR, T0 + 3 * HOUR, None, ["deploy v2"]),
        (T0 + 3 * HOUR, T0 + 5 * HOUR, "ws://b/ws", ["patching b"]),
        (T0 + 3 * HOUR, T0 + 5 * HOUR, "ws://a/ws", ["deploy v2"]),
        (T0 + 30 * M, T0 + 90 * M, "ws://a/ws", ["deploy v2", "db failover"]),
    ],
)
def test_annotations_overlapping_a_window(
    store: ResultStore, since: datetime, until: datetime, target: str | None, texts: list[str]
) -> None:
    store.add_annotation(Annotation("deploy", T0, None, "deploy v2", "ws://a/ws"))
    store.add_annotation(Annotation("incident", T0 + HOUR, T0 + 2 * HOUR, "db failover"))
    store.add_annotation(
        Annotation("maintenance", T0 + 4 * HOUR, T0 + 5 * HOUR, "patching b", "ws://b/ws")
    )
    assert [a.text for a in store.annotations_between(since, until, target)] == texts


def test_an_annotation_comes_back_with_its_id(store: ResultStore) -> None:
    note = Annotation("incident", T0, T0 + HOUR, "db failover", None)
    first = store.add_annotation(note)
    second = store.add_annotation(replace(note, text="again"))
    assert second > first
    assert store.annotations_between(T0, T0 + HOUR)[0] == replace(note, id=first)
    with pytest.raises(ValueError, match="end is before its start"):
        store.add_annotation(Annotation("deploy", T0, T0 - S, "backwards"))


# --- retention ----------------------------------------------------------------------------


def test_prune_removes_old_raw_rows_and_keeps_rollups(store: ResultStore) -> None:
    old = round_(
        "old",
        T0,
        (session("u1"), session("u2", T0 + S), session("u3", T0 + 2 * S, **REFUSED)),
        db_timings=(DbTiming("thread_create", 5.0, 4.0, True),),
        memory_samples=(MemorySample(T0, 100.0), MemorySample(T0 + S, 101.0)),
    )
    young = shifted(full_round(), "young", 48 * HOUR)
    store.save_round(old)
    store.save_round(young)
    # 3 sessions + 10 events + 2 samples + 1 timing; small batches to cross batch edges
    assert store.prune_older_than(T0 + 24 * HOUR, batch_size=2) == 16
    assert store.prune_older_than(T0 + 24 * HOUR) == 0
    assert store.round("young") == young
    pruned = store.round("old")
    assert pruned is not None and pruned.sessions == () and pruned.memory_samples == ()
    success = SloSettings("s", "session_success", 99.0)
    assert store.sli_counts(success, T0, T0 + HOUR, bucket_s=3600) == [SliBucket(T0, 2, 3)]
    latency = SloSettings("s", "first_event_latency", 99.0, threshold_ms=500.0)
    assert store.sli_counts(latency, T0, T0 + HOUR, bucket_s=3600) == []
    assert store.rounds_between(T0, T0 + HOUR)[0]["run_id"] == "old"


def test_timing_rows_over_a_floor_keep_every_timing_that_can_breach(store: ResultStore) -> None:
    """The breach counts of the Stability page and the report read only the DB timings
    that can breach the lowest DB threshold; what they find must not change."""
    timings = (
        DbTiming("thread_create", 5.0, 4.0, True),  # under: cannot breach
        DbTiming("message_batch", 30.0, None, True),  # only the client's figure, over
        DbTiming("result_store", None, None, True),  # no figure: judged a breach
        DbTiming("data_retrieval", None, 3.0, False, "deadlock"),  # failed
        DbTiming("thread_create", 99.0, 20.0, True),  # the server's figure (judged), at it
    )
    store.save_round(round_("t", T0, db_timings=timings))
    slos = (
        SloSettings("fast", "db_latency", 99.0, threshold_ms=20.0),
        SloSettings("create", "db_latency", 99.0, threshold_ms=50.0, operation="thread_create"),
    )
    every = store.timing_rows(T0, T0 + M)
    some = store.timing_rows(T0, T0 + M, over_ms=breaches.db_floor(slos))
    assert [r["operation"] for r in some] == ["message_batch", "result_store", "data_retrieval"]

    def found(rows: list[dict[str, Any]]) -> tuple[breaches.Breach, ...]:
        figures = [(r["operation"], r["ok"], r["server_ms"], r["client_ms"]) for r in rows]
        return breaches.round_breaches(slos, probe="chat", memory_growth_mb=None, timings=figures)

    assert len(every) == 5
    assert found(some) == found(every) != ()


def test_slow_sessions_over_each_fields_floor_keep_every_session_that_can_breach(
    store: ResultStore,
) -> None:
    """The Live and Stability pages judge only the sessions a latency objective can find
    over its threshold (each field's lowest one); what they find must not change."""
    figures = [  # (first event ms, completion ms)
        (100.0, 1000.0),  # under both floors
        (600.0, 1000.0),  # first event over 500
        (100.0, 6000.0),  # completion over 5000
        (400.0, 4000.0),  # over 500 on completion only: under its own floor (5000)
        (None, 7000.0),  # no first event (failed for it), completion over
        (900.0, None),  # no completion, first event over
        (None, None),  # nothing measured: nothing to breach
        (2500.0, 1000.0),  # over the 2000 objective too
    ]
    sessions = tuple(
        session(f"u{i}", T0 + i * S, first_event_ms=first, completion_ms=done)
        for i, (first, done) in enumerate(figures)
    )
    store.save_round(round_("slow", T0, sessions))
    slos = (
        SloSettings("first", "first_event_latency", 99.0, threshold_ms=500.0),
        SloSettings("chat-first", "first_event_latency", 99.0, threshold_ms=2000.0),
        SloSettings("done", "completion_latency", 99.0, threshold_ms=5000.0),
    )
    floors = breaches.latency_floors(slos)
    assert floors == {"first_event_ms": 500.0, "completion_ms": 5000.0}
    every = store.sessions_between(T0, T0 + M)
    some = store.slow_sessions(T0, T0 + M, Filters(), over_ms=floors)

    def found(rows: list[dict[str, Any]]) -> dict[str, list[breaches.Breach]]:
        judged = {r["user_id"]: breaches.over_threshold(breaches.of_session_row(r, slos))
                  for r in rows}  # fmt: skip
        return {user: b for user, b in judged.items() if b}

    assert len(every) == len(figures)
    assert sorted(r["user_id"] for r in some) == ["u1", "u2", "u4", "u5", "u7"]
    assert found(some) == found(every) != {}
    assert store.slow_sessions(T0, T0 + M, Filters(), over_ms={}) == []
