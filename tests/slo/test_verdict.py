"""Coverage, the overall verdict with its reason, and the JSON form of a result."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from probes.config import AlertSettings, SloSettings
from probes.judging.slo import (
    SloResult,
    coverage,
    evaluate,
    json_number,
    overall_verdict,
    result_to_json,
    verdict_reason,
)
from probes.records import SliBucket

T0 = datetime(2025, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)

# --- coverage ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rounds", "window", "every_s", "expected"),
    [
        (60, HOUR, 60.0, 1.0),
        (45, HOUR, 60.0, 0.75),
        (54, HOUR, 60.0, 0.9),
        (0, HOUR, 60.0, 0.0),
        (70, HOUR, 60.0, 1.0),  # more rounds than scheduled: capped
        (1, timedelta(seconds=90), 60.0, 1.0),  # floor(1.5) = 1 expected
        (0, timedelta(seconds=30), 60.0, 0.0),  # shorter than one round: 1 expected
        (3, timedelta(seconds=30), 60.0, 1.0),
        (0, timedelta(0), 60.0, 0.0),
        (7, timedelta(days=7), 86400.0, 1.0),
        (3, timedelta(seconds=0.3), 0.1, 1.0),  # exact, not floor(2.9999...)
    ],
)
def test_coverage(rounds: int, window: timedelta, every_s: float, expected: float) -> None:
    assert coverage(rounds, since=T0, until=T0 + window, every_s=every_s) == expected


@pytest.mark.parametrize(
    ("rounds", "until", "every_s", "message"),
    [
        (-1, T0 + HOUR, 60.0, "rounds_with_data must not be negative, got -1"),
        (1, T0 + HOUR, 0.0, "every_s must be positive, got 0.0"),
        (
            1,
            T0 - HOUR,
            60.0,
            "since 2025-01-01T00:00:00+00:00 is after until 2024-12-31T23:00:00+00:00",
        ),
    ],
)
def test_coverage_refuses_nonsense(
    rounds: int, until: datetime, every_s: float, message: str
) -> None:
    with pytest.raises(ValueError) as exc:
        coverage(rounds, since=T0, until=until, every_s=every_s)
    assert str(exc.value) == message


# --- verdict -------------------------------------------------------------------------

BASE = SloResult(
    name="session-success",
    sli="session_success",
    objective=99.9,
    since=T0,
    until=T0 + HOUR,
    value=100.0,
    status="met",
    good=1000,
    valid=1000,
    budget_left=1.0,
    burn_rate=0.0,
    coverage=1.0,
    excluded_buckets=0,
    alerts=(),
)


def met(name: str, cover: float = 1.0) -> SloResult:
    return replace(BASE, name=name, coverage=cover)


def breached(name: str, good: int, valid: int, objective: float = 99.9) -> SloResult:
    return replace(BASE, name=name, status="breached", good=good, valid=valid, objective=objective)


def no_data(name: str, cover: float = 1.0) -> SloResult:
    return replace(BASE, name=name, status="no data", good=0, valid=0, value=None, coverage=cover)


@pytest.mark.parametrize(
    ("results", "verdict", "reason"),
    [
        (
            [met("a"), met("b", 0.95)],
            "PASS",
            "all 2 objectives met; lowest coverage 95% (minimum 90%)",
        ),
        (
            [met("a", 0.9)],
            "PASS",
            "all 1 objective met; lowest coverage 90% (minimum 90%)",
        ),
        (
            [met("a", 54 / 60), met("b", 2 / 3)],
            "INSUFFICIENT DATA",
            "coverage below 90% for b (66.66%)",
        ),
        (
            [met("a", 0.8999), met("b")],
            "INSUFFICIENT DATA",
            "coverage below 90% for a (89.99%)",
        ),
        (
            [met("a"), no_data("b")],
            "INSUFFICIENT DATA",
            "no data for b",
        ),
        (
            [no_data("a", 0.0), met("b", 0.5)],
            "INSUFFICIENT DATA",
            "no data for a; coverage below 90% for b (50%)",
        ),
        (
            [met("a"), breached("b", 998, 1000)],
            "FAIL",
            "1 of 2 objectives breached: b 99.8% good of 1000 (objective 99.9%)",
        ),
        (  # a breach wins over low coverage and missing data
            [met("a", 0.1), no_data("b"), breached("c", 99_999, 100_000, 100.0)],
            "FAIL",
            "1 of 3 objectives breached: c 99.99% good of 100000 (objective 100%)",
        ),
        (  # rounded down, never up to the objective
            [breached("a", 99_899_999, 100_000_000), breached("b", 2, 3, 99.0)],
            "FAIL",
            "2 of 2 objectives breached: a 99.89% good of 100000000 (objective 99.9%); "
            "b 66.66% good of 3 (objective 99%)",
        ),
        ([], "INSUFFICIENT DATA", "no objectives were evaluated"),
    ],
)
def test_verdict(results: list[SloResult], verdict: str, reason: str) -> None:
    assert overall_verdict(results, 90.0) == verdict
    assert verdict_reason(results, 90.0) == reason


def test_minimum_coverage_is_read_as_written() -> None:
    results = [met("a", 333 / 1000)]
    assert overall_verdict(results, 33.3) == "PASS"
    assert verdict_reason(results, 33.3) == (
        "all 1 objective met; lowest coverage 33.3% (minimum 33.3%)"
    )
    assert overall_verdict(results, 33.31) == "INSUFFICIENT DATA"


def test_verdict_of_evaluated_results() -> None:
    buckets = [SliBucket(T0 + timedelta(minutes=m), 10, 10) for m in range(60)]
    buckets[30] = SliBucket(buckets[30].start, 9, 10)

    def judge(objective: float, cover: float) -> SloResult:
        return evaluate(
            SloSettings(f"slo-{objective:g}", "session_success", objective),
            buckets,
            since=T0,
            until=T0 + HOUR,
            width_s=60.0,
            maintenance=(),
            coverage=cover,
            alerts=AlertSettings(),
        )

    assert overall_verdict([judge(99.0, 1.0)], 90.0) == "PASS"
    assert overall_verdict([judge(99.0, 1.0), judge(99.9, 0.5)], 90.0) == "FAIL"
    assert verdict_reason([judge(99.9, 1.0)], 90.0) == (
        "1 of 1 objective breached: slo-99.9 99.83% good of 600 (objective 99.9%)"
    )


# --- JSON ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (None, None),
        (0.5, 0.5),
        (-1.0, -1.0),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        (math.nan, None),
    ],
)
def test_json_number(number: float | None, expected: float | str | None) -> None:
    assert json_number(number) == expected


def test_result_to_json_is_strict_json() -> None:
    result = evaluate(
        SloSettings("isolation", "isolation", 100.0),
        [SliBucket(T0 + timedelta(minutes=m), 9, 10) for m in range(60)],
        since=T0,
        until=T0 + HOUR,
        width_s=60.0,
        maintenance=(),
        coverage=1.0,
        alerts=AlertSettings(),
    )
    data = json.loads(json.dumps(result_to_json(result), allow_nan=False))
    assert {k: v for k, v in data.items() if k != "alerts"} == {
        "name": "isolation",
        "sli": "isolation",
        "objective": 100.0,
        "since": "2025-01-01T00:00:00+00:00",
        "until": "2025-01-01T01:00:00+00:00",
        "value": 90.0,
        "status": "breached",
        "good": 540,
        "valid": 600,
        "budget_left": "-Infinity",
        "burn_rate": "Infinity",
        "coverage": 1.0,
        "excluded_buckets": 0,
    }
    assert data["alerts"][0] == {
        "severity": "page",
        "long_window_s": 3600.0,
        "short_window_s": 300.0,
        "factor": 14.4,
        "long_burn": "Infinity",
        "short_burn": "Infinity",
        "long_valid": 600,
        "short_valid": 50,
        "state": "firing",
    }
    assert data["alerts"][2]["state"] == "firing"
    assert [float(data["burn_rate"]), float(data["budget_left"])] == [math.inf, -math.inf]


def test_no_data_result_to_json() -> None:
    result = result_to_json(
        replace(
            BASE, status="no data", value=None, budget_left=None, burn_rate=None, good=0, valid=0
        )
    )
    assert (result["value"], result["budget_left"], result["burn_rate"]) == (None, None, None)
