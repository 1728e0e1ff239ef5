"""Which record breaches which threshold objective, and the state every view shows for it."""

from __future__ import annotations

import pytest

from probes.config import SloSettings, default_slos
from probes.judging import breaches
from probes.records import SessionResult, unreachable
from tests.report.conftest import T0, round_, session

SLOS = default_slos()  # first event 500 ms, completion 5000 ms, memory 50 MB, DB 50 ms


@pytest.mark.parametrize(
    ("connected", "first", "done", "expected"),
    [
        (True, 120.0, 400.0, []),
        (True, 500.0, 5000.0, []),  # at the threshold is good, as the SLI counts it
        (True, 806.0, 400.0, [("first-event-latency", 806.0)]),
        (True, 120.0, 5001.0, [("completion-latency", 5001.0)]),
        (True, None, None, [("first-event-latency", None), ("completion-latency", None)]),
        (False, None, None, []),  # a refused session is not a latency event
    ],
)
def test_a_session_is_judged_against_each_latency_objective(
    connected: bool, first: float | None, done: float | None, expected: list[tuple[str, float]]
) -> None:
    found = breaches.session_breaches(
        SLOS, probe="default", user="u", connected=connected, first_event_ms=first,
        completion_ms=done,
    )  # fmt: skip
    assert [(b.objective, b.measured) for b in found] == expected


def test_a_round_that_grew_too_much_passes_on_the_protocol_but_is_breaching() -> None:
    r = round_("r1", T0, growth_mb=97.8)
    found = breaches.over_threshold(breaches.of_round(r, SLOS))
    assert r.status == "passed"
    assert [b.text for b in found] == ["memory-growth: 97.8 MB > 50 MB, +47.8 MB"]
    assert breaches.round_state(r.status, found) == "breaching"
    assert breaches.round_state("failed", found) == "failed"
    assert breaches.round_state("passed", []) == "passed"


def test_a_slow_db_step_is_named_with_its_operation() -> None:
    found = breaches.round_breaches(
        SLOS, probe="default", memory_growth_mb=None,
        timings=[("thread_create", True, 80.0, 81.0), ("message_batch", True, None, 12.0)],
    )  # fmt: skip
    assert [(b.objective, b.operation, b.measured) for b in found] == [
        ("db-thread-create", "thread_create", 80.0)
    ]
    assert found[0].detail == "80.0 ms > 50 ms, +30.0 ms"


def test_an_objective_scoped_to_another_probe_does_not_judge_this_one() -> None:
    scoped = (SloSettings("fe", "first_event_latency", 99.0, threshold_ms=100.0, probe="other"),)
    s = session("r", "u", T0, first_event_ms=900.0)
    assert breaches.of_session(s, scoped) == ()


def test_the_session_state_names_ok_breaching_and_failed() -> None:
    slow = breaches.of_session(session("r", "u", T0, first_event_ms=900.0), SLOS)
    assert breaches.session_state("ok", slow) == "breaching"
    assert breaches.session_state("ok", ()) == "ok"
    assert breaches.session_state("failed", slow) == "failed"


def test_the_summary_names_each_objective_once_with_its_worst_case() -> None:
    found = [
        breaches.Breach("first-event-latency", "first_event_latency", u, ms, 500.0, "ms")
        for u, ms in (("a", 806.0), ("b", 650.0))
    ]
    assert breaches.summary(found) == "first-event-latency x2 (worst 806.0 ms > 500 ms, +306.0 ms)"


def _down(user: str, reason: str) -> SessionResult:
    return session("r", user, T0, outcome="failed", reason=reason, error=f"{reason}: refused")


def test_unreachable_only_when_no_session_reached_the_target() -> None:
    assert unreachable((_down("a", "connect_error"), _down("b", "connect_error"))) == (
        "target unreachable: refused"
    )
    assert unreachable((_down("a", "connect_error"), _down("b", "refused"))) == ""
    assert unreachable(()) == ""
