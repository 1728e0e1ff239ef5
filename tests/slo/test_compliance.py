"""Compliance, error budget, burn rate and maintenance exclusion over one window."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from probes.config import AlertSettings, SloSettings
from probes.judging.slo import evaluate, exclude_maintenance
from probes.records import Annotation, SliBucket

T0 = datetime(2025, 1, 1, tzinfo=UTC)
WIDTH = 60.0


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def series(*counts: tuple[int, int], first: int = 0) -> list[SliBucket]:
    """Consecutive one-minute buckets of (good, valid), the first at minute ``first``."""
    return [SliBucket(at(first + i), good, valid) for i, (good, valid) in enumerate(counts)]


def judge(
    objective: float,
    buckets: list[SliBucket],
    *,
    minutes: int = 10,
    maintenance: tuple[Annotation, ...] = (),
):
    return evaluate(
        SloSettings("session-success", "session_success", objective),
        buckets,
        since=T0,
        until=at(minutes),
        width_s=WIDTH,
        maintenance=maintenance,
        coverage=1.0,
        alerts=AlertSettings(),
    )


def maintenance(start: float, end: float | None) -> Annotation:
    return Annotation("maintenance", at(start), None if end is None else at(end), "upgrade")


@pytest.mark.parametrize(
    ("objective", "good", "valid", "value", "status", "budget_left", "burn_rate"),
    [
        (99.9, 1000, 1000, 100.0, "met", 1.0, 0.0),
        (99.9, 999, 1000, 99.9, "met", 0.0, 1.0),
        (99.9, 998, 1000, 99.8, "breached", -1.0, 2.0),
        (99.0, 995, 1000, 99.5, "met", 0.5, 0.5),
        (99.0, 3, 4, 75.0, "breached", -24.0, 25.0),
        (100.0, 10, 10, 100.0, "met", 1.0, 0.0),
        (100.0, 9, 10, 90.0, "breached", -math.inf, math.inf),
        (100.0, 0, 10, 0.0, "breached", -math.inf, math.inf),
        (0.0, 0, 10, 0.0, "met", 0.0, 1.0),
        (99.9, 0, 0, None, "no data", None, None),
    ],
)
def test_compliance_budget_and_burn_rate(
    objective: float,
    good: int,
    valid: int,
    value: float | None,
    status: str,
    budget_left: float | None,
    burn_rate: float | None,
) -> None:
    result = judge(objective, series((good, valid)))
    assert (result.good, result.valid) == (good, valid)
    assert result.value == value
    assert result.status == status
    assert result.budget_left == budget_left
    assert result.burn_rate == burn_rate


def test_result_carries_the_objective_and_window() -> None:
    result = judge(99.9, series((5, 5)))
    assert (result.name, result.sli, result.objective) == (
        "session-success",
        "session_success",
        99.9,
    )
    assert (result.since, result.until, result.coverage) == (T0, at(10), 1.0)
    assert result.excluded_buckets == 0


def test_counts_sum_over_buckets() -> None:
    result = judge(99.0, series((10, 10), (9, 10), (0, 0), (10, 10)))
    assert (result.good, result.valid, result.status) == (29, 30, "breached")
    assert result.burn_rate == pytest.approx(100 / 30)


def test_no_buckets_at_all_is_no_data_not_met() -> None:
    result = judge(99.9, [])
    assert (result.status, result.value, result.budget_left, result.burn_rate) == (
        "no data",
        None,
        None,
        None,
    )


def test_only_buckets_starting_inside_the_window_count() -> None:
    buckets = [
        SliBucket(at(-1), 0, 7),  # before since
        SliBucket(at(0), 4, 4),  # at since: in
        SliBucket(at(9), 3, 3),  # last minute: in
        SliBucket(at(10), 0, 9),  # at until: out
    ]
    result = judge(100.0, buckets)
    assert (result.good, result.valid, result.status) == (7, 7, "met")


@pytest.mark.parametrize(
    ("bucket", "message"),
    [
        (
            SliBucket(T0, 5, 3),
            "bucket at 2025-01-01T00:00:00+00:00: good 5 and valid 3 "
            "must satisfy 0 <= good <= valid",
        ),
        (
            SliBucket(T0, -1, 3),
            "bucket at 2025-01-01T00:00:00+00:00: good -1 and valid 3 "
            "must satisfy 0 <= good <= valid",
        ),
    ],
)
def test_impossible_bucket_is_refused(bucket: SliBucket, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        judge(99.0, [bucket])
    assert str(exc.value) == message


def test_window_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError) as exc:
        judge(99.0, [], minutes=-1)
    assert str(exc.value) == (
        "since 2025-01-01T00:00:00+00:00 is after until 2024-12-31T23:59:00+00:00"
    )


@pytest.mark.parametrize("width_s", [0.0, -60.0, 1e-9])
def test_bucket_width_must_be_positive(width_s: float) -> None:
    with pytest.raises(ValueError) as exc:
        exclude_maintenance([], [], width_s=width_s, now=T0)
    assert str(exc.value) == f"width_s must be positive, got {width_s!r}"


# --- maintenance -------------------------------------------------------------------

TEN = series(*[(1, 1)] * 10)


@pytest.mark.parametrize(
    ("notes", "now_minute", "kept_minutes"),
    [
        ([], 10, list(range(10))),
        # any overlap drops the whole bucket: 1:30-2:10 touches minutes 1 and 2
        ([maintenance(1.5, 2 + 1 / 6)], 10, [0, 3, 4, 5, 6, 7, 8, 9]),
        # [1:00, 2:00) is exactly bucket 1; the end is exclusive
        ([maintenance(1, 2)], 10, [0, *range(2, 10)]),
        # still open: runs to now
        ([maintenance(3.5, None)], 10, [0, 1, 2]),
        ([maintenance(3.5, None)], 5, [0, 1, 2, 5, 6, 7, 8, 9]),
        # opened after now: covers nothing yet
        ([maintenance(12, None)], 10, list(range(10))),
        # zero-length and backwards windows cover nothing
        ([maintenance(4, 4), maintenance(6, 5)], 10, list(range(10))),
        ([maintenance(0, 1), maintenance(8, 9.5)], 10, [1, 2, 3, 4, 5, 6, 7]),
        (
            [
                Annotation("deploy", at(0), at(10), "v2"),
                Annotation("incident", at(0), None, "outage"),
            ],
            10,
            list(range(10)),
        ),
    ],
)
def test_exclude_maintenance(
    notes: list[Annotation], now_minute: int, kept_minutes: list[int]
) -> None:
    kept = exclude_maintenance(TEN, notes, width_s=WIDTH, now=at(now_minute))
    assert [int((b.start - T0) / timedelta(minutes=1)) for b in kept] == kept_minutes


def test_failures_inside_maintenance_do_not_count() -> None:
    buckets = series((10, 10), (0, 10), (0, 10), (10, 10))
    result = judge(100.0, buckets, maintenance=(maintenance(1, 3),))
    assert (result.good, result.valid, result.status) == (20, 20, "met")
    assert result.excluded_buckets == 2


def test_open_maintenance_runs_to_until() -> None:
    buckets = series(*[(10, 10)] * 8, (0, 10), (0, 10))
    result = judge(100.0, buckets, maintenance=(maintenance(8.5, None),))
    assert (result.good, result.valid, result.status) == (80, 80, "met")
    assert result.excluded_buckets == 2


def test_window_entirely_in_maintenance_is_no_data() -> None:
    result = judge(99.0, TEN, maintenance=(maintenance(-5, None),))
    assert (result.status, result.valid, result.excluded_buckets) == ("no data", 0, 10)
