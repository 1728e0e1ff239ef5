"""Multiwindow, multi-burn-rate alerts: each pair firing, ok and short of samples."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from probes.config import AlertSettings, SloSettings
from probes.judging.slo import MULTIWINDOW_RULES, BurnRateRule, SloResult, evaluate
from probes.records import Annotation, SliBucket

UNTIL = datetime(2025, 1, 4, tzinfo=UTC)
THREE_DAYS = 3 * 24 * 60  # minutes


def history(counts: Callable[[int], tuple[int, int]]) -> list[SliBucket]:
    """Three days of one-minute buckets; ``counts(age)`` gives (good, valid) for the
    bucket that starts ``age`` minutes before ``UNTIL`` (1 = the last minute)."""
    return [
        SliBucket(UNTIL - timedelta(minutes=age), *counts(age)) for age in range(THREE_DAYS, 0, -1)
    ]


def judge(
    buckets: list[SliBucket],
    *,
    objective: float = 99.0,
    min_samples: int = 10,
    maintenance: tuple[Annotation, ...] = (),
) -> SloResult:
    return evaluate(
        SloSettings("completion-latency", "completion_latency", objective, threshold_ms=5000.0),
        buckets,
        since=UNTIL - timedelta(hours=1),  # alert windows ignore since
        until=UNTIL,
        width_s=60.0,
        maintenance=maintenance,
        coverage=1.0,
        alerts=AlertSettings(min_samples=min_samples),
    )


def states(result: SloResult) -> list[str]:
    return [a.state for a in result.alerts]


def test_default_rules_are_the_workbook_pairs() -> None:
    workbook = (
        BurnRateRule("page", 3600.0, 300.0, 14.4),
        BurnRateRule("page", 21600.0, 1800.0, 6.0),
        BurnRateRule("ticket", 259200.0, 21600.0, 1.0),
    )
    assert workbook == MULTIWINDOW_RULES


def test_alerts_report_the_rule_and_both_windows() -> None:
    # the last hour at 80 % good (burn 20), before that all good
    result = judge(history(lambda age: (8, 10) if age <= 60 else (10, 10)))
    page = result.alerts[0]
    assert (page.severity, page.long_window_s, page.short_window_s, page.factor) == (
        "page",
        3600.0,
        300.0,
        14.4,
    )
    assert (page.long_burn, page.short_burn) == (20.0, 20.0)
    assert (page.long_valid, page.short_valid) == (600, 50)
    assert page.state == "firing"


@pytest.mark.parametrize(
    ("case", "counts", "expected_states", "expected_burns"),
    [
        (
            "all good",
            lambda age: (10, 10),
            ["ok", "ok", "ok"],
            [(0.0, 0.0), (0.0, 0.0), (0.0, 0.0)],
        ),
        (
            "fast burn pages on the 1 h pair",
            lambda age: (8, 10) if age <= 60 else (10, 10),
            ["firing", "ok", "ok"],
            [(20.0, 20.0), (20 / 6, 20.0), (20 / 72, 20 / 6)],
        ),
        (
            "recovered: the 5 m window is clean, the 1 h window still burns",
            lambda age: (8, 10) if 10 < age <= 60 else (10, 10),
            ["ok", "ok", "ok"],
            [(50 / 3, 0.0), (50 / 18, 40 / 3), (50 / 216, 50 / 18)],
        ),
        (
            "a spike shorter than 5 m does not page",
            lambda age: (0, 10) if age <= 3 else (10, 10),
            ["ok", "ok", "ok"],
            [(5.0, 60.0), (5 / 6, 10.0), (5 / 72, 5 / 6)],
        ),
        (
            "6 h of burn at 7x pages on the 6 h pair",
            lambda age: (93, 100) if age <= 360 else (100, 100),
            ["ok", "firing", "ok"],
            [(7.0, 7.0), (7.0, 7.0), (7 / 12, 7.0)],
        ),
        (
            "burn of exactly 1 for 3 days opens a ticket",
            lambda age: (99, 100),
            ["ok", "ok", "firing"],
            [(1.0, 1.0), (1.0, 1.0), (1.0, 1.0)],
        ),
        (
            "burn just under 1 for 3 days does not",
            lambda age: (99, 100) if age > 1 else (100, 100),
            ["ok", "ok", "ok"],
            [(59 / 60, 0.8), (359 / 360, 29 / 30), (4319 / 4320, 359 / 360)],
        ),
    ],
)
def test_burn_rate_pairs(
    case: str,
    counts: Callable[[int], tuple[int, int]],
    expected_states: list[str],
    expected_burns: list[tuple[float, float]],
) -> None:
    result = judge(history(counts))
    assert states(result) == expected_states, case
    burns = [(a.long_burn, a.short_burn) for a in result.alerts]
    assert burns == [pytest.approx(pair) for pair in expected_burns], case


def test_exact_factor_fires() -> None:
    # 85.6 % good at 99 % is a burn of exactly 14.4
    result = judge(history(lambda age: (856, 1000) if age <= 60 else (1000, 1000)))
    assert result.alerts[0].long_burn == 14.4
    assert result.alerts[0].state == "firing"


def test_sparse_data_is_insufficient_however_bad() -> None:
    # one bad event an hour: burn 100, but 1 h holds 1 event and 6 h holds 6
    result = judge(history(lambda age: (0, 1) if age % 60 == 0 else (0, 0)))
    assert states(result) == ["insufficient samples"] * 3
    assert [(a.long_valid, a.short_valid) for a in result.alerts] == [(1, 0), (6, 0), (72, 6)]
    assert [(a.long_burn, a.short_burn) for a in result.alerts] == [
        (100.0, None),
        (100.0, None),
        (100.0, 100.0),
    ]


def test_no_data_is_insufficient() -> None:
    result = judge(history(lambda age: (0, 0)))
    assert states(result) == ["insufficient samples"] * 3
    assert {(a.long_burn, a.short_burn) for a in result.alerts} == {(None, None)}


@pytest.mark.parametrize(
    ("min_samples", "expected"),
    [(5, "firing"), (6, "insufficient samples")],
)
def test_min_samples_applies_to_each_window(min_samples: int, expected: str) -> None:
    # one bad event a minute in the last hour: the 5 m window holds exactly 5
    result = judge(history(lambda age: (0, 1) if age <= 60 else (0, 0)), min_samples=min_samples)
    assert (result.alerts[0].long_valid, result.alerts[0].short_valid) == (60, 5)
    assert result.alerts[0].state == expected


def test_hundred_percent_objective_burns_infinitely_on_any_bad_event() -> None:
    # one bad event in each minute 100-104 minutes ago; clean since
    result = judge(history(lambda age: (9, 10) if 100 <= age < 105 else (10, 10)), objective=100.0)
    inf = float("inf")
    assert [(a.long_burn, a.short_burn) for a in result.alerts] == [
        (0.0, 0.0),
        (inf, 0.0),
        (inf, inf),
    ]
    assert states(result) == ["ok", "ok", "firing"]


def test_maintenance_is_excluded_from_alert_windows() -> None:
    bad_hour = history(lambda age: (0, 10) if age <= 60 else (10, 10))
    assert states(judge(bad_hour))[0] == "firing"
    window = Annotation("maintenance", UNTIL - timedelta(hours=1), None, "migration")
    result = judge(bad_hour, maintenance=(window,))
    assert states(result)[0] == "insufficient samples"
    assert result.alerts[1].long_burn == 0.0


def test_custom_rules() -> None:
    rule = BurnRateRule("ticket", 600.0, 120.0, 2.0)
    result = evaluate(
        SloSettings("x", "isolation", 99.0),
        history(lambda age: (97, 100) if age <= 10 else (100, 100)),
        since=UNTIL - timedelta(hours=1),
        until=UNTIL,
        width_s=60.0,
        maintenance=(),
        coverage=1.0,
        alerts=AlertSettings(),
        rules=(rule,),
    )
    assert [(a.severity, a.long_burn, a.short_burn, a.state) for a in result.alerts] == [
        ("ticket", 3.0, 3.0, "firing")
    ]
