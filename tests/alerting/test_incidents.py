"""The incident state machine: evaluations in, transitions out, with an explicit now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from probes.alerting.evaluate import evaluation
from probes.alerting.incidents import Evaluation, Subject, Thresholds, Tracked, step
from probes.config import SloSettings, parse_settings
from probes.exposition.slo_series import SloSeries
from probes.judging import slo as maths
from probes.records import RoundResult, SliBucket

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HERE = Subject("chat", "ws://a/ws", "eu-1")
F, P, S = "failed round", "passed round", "skipped round"
ALERT = "alert firing"
SIGNALS = {
    F: Evaluation(HERE, True),
    P: Evaluation(HERE, False),
    S: Evaluation(HERE, None),
    ALERT: Evaluation(HERE, False, firing="session-success", severity="page"),
}


DEFAULT = Thresholds()


def run(signals: list[str], thresholds: Thresholds = DEFAULT) -> list[tuple[int, str]]:
    """Feed the signals in order; returns (index, status) of every transition."""
    state: Tracked | None = None
    out = []
    for i, name in enumerate(signals):
        now = T0 + timedelta(minutes=i)
        state, change = step(state, SIGNALS[name], thresholds, now=now, new_id=f"inc-{i}")
        if change is not None:
            out.append((i, change.status))
    return out


@pytest.mark.parametrize(
    ("signals", "expected"),
    [
        ([F], []),  # one bad round does not open an incident
        ([F, F], [(1, "firing")]),
        ([F, P, F], []),  # not in a row
        ([F, S, F], [(2, "firing")]),  # a skipped round is no data: it breaks nothing
        ([F, F, F, F], [(1, "firing")]),  # one incident per fault, not one per round
        ([F, F, P], [(1, "firing")]),  # one healthy evaluation does not resolve it
        ([F, F, P, P], [(1, "firing"), (3, "resolved")]),
        ([F, F, P, F, P, P], [(1, "firing"), (5, "resolved")]),
        ([F, F, P, S, P], [(1, "firing"), (4, "resolved")]),
        ([ALERT], [(0, "firing")]),  # a burn-rate alert opens one at once
        ([ALERT, ALERT, P, P], [(0, "firing"), (3, "resolved")]),
        ([ALERT, P, ALERT, P, P], [(0, "firing"), (4, "resolved")]),
        ([F, F, P, P, F, F], [(1, "firing"), (3, "resolved"), (5, "firing")]),
    ],
)
def test_transitions(signals: list[str], expected: list[tuple[int, str]]) -> None:
    assert run(signals) == expected


def test_thresholds_are_settings() -> None:
    assert run([F, F, F], Thresholds(failure_threshold=3)) == [(2, "firing")]
    assert run([F, F, P], Thresholds(success_threshold=1)) == [(1, "firing"), (2, "resolved")]


def test_an_incident_records_what_opened_it_and_when_it_resolved() -> None:
    state, first = step(None, SIGNALS[ALERT], Thresholds(), now=T0, new_id="a")
    assert first is not None
    assert (first.incident.kind, first.incident.objective) == ("slo", "session-success")
    assert first.incident.opened_at == T0 and first.incident.resolved_at is None
    later = T0 + timedelta(minutes=5)
    state, _ = step(state, SIGNALS[P], Thresholds(), now=later, new_id="b")
    state, done = step(state, SIGNALS[P], Thresholds(), now=later, new_id="c")
    assert done is not None and done.incident.id == "a" and done.incident.resolved_at == later
    assert state.incident is None


def judged(bad_per_100: int) -> SloSeries:
    """An objective of 99 % with ``bad_per_100`` bad events of every 100, each minute for 3 days."""
    slo = SloSettings("ok-sessions", "session_success", 99.0)
    buckets = [
        SliBucket(T0 - timedelta(minutes=m + 1), 100 - bad_per_100, 100) for m in range(3 * 1440)
    ]
    result = maths.evaluate(
        slo, buckets, since=T0 - timedelta(days=30), until=T0, width_s=60, maintenance=(),
        coverage=1.0, alerts=parse_settings("").alerts,
    )  # fmt: skip
    return SloSeries(slo, ("chat", "ws://a/ws", "eu-1"), 0, 0, result)


def test_only_page_alerts_open_or_hold_an_incident() -> None:
    passed = RoundResult("r", "chat", "ws://a/ws", "eu-1", T0, T0, "passed")
    slow_burn = judged(2)  # 2x the budget: the ticket alert fires, neither page alert
    assert {a.severity: a.state for a in slow_burn.result.alerts}["ticket"] == "firing"
    assert {a.state for a in slow_burn.result.alerts if a.severity == "page"} == {"ok"}
    assert evaluation(passed, [slow_burn]).firing is None
    assert evaluation(passed, [slow_burn]).bad is False  # a healthy evaluation: it resolves
    fast_burn = judged(20)
    assert evaluation(passed, [fast_burn]).firing == "ok-sessions"
    assert evaluation(passed, [fast_burn]).severity == "page"
