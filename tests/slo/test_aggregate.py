"""Locations combined per slice: pooled, any, all, quorum:N."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from probes.judging.aggregate import Aggregate, aggregate_slices, parse_aggregate, slice_is_good
from probes.records import SliBucket

T0 = datetime(2026, 1, 1, tzinfo=UTC)
M = timedelta(minutes=1)
GOOD, BAD = (10, 10), (5, 10)  # (good, valid) of one location in one slice


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("pooled", Aggregate("pooled")),
        ("any", Aggregate("any")),
        ("all", Aggregate("all")),
        ("quorum:1", Aggregate("quorum", 1)),
        ("quorum:3", Aggregate("quorum", 3)),
    ],
)
def test_parse(text: str, parsed: Aggregate) -> None:
    assert parse_aggregate(text) == parsed


@pytest.mark.parametrize("text", ["", "most", "quorum", "quorum:0", "quorum:-1", "quorum:x"])
def test_parse_refuses(text: str) -> None:
    expected = f'must be "pooled", "any", "all" or "quorum:N" with N >= 1, got {text!r}'
    with pytest.raises(ValueError) as error:
        parse_aggregate(text)
    assert str(error.value) == expected


@pytest.mark.parametrize(
    ("good", "valid", "objective", "verdict"),
    [(999, 1000, 99.9, True), (998, 1000, 99.9, False), (1, 1, 100.0, True), (0, 1, 0.0, True)],
)
def test_one_location_slice(good: int, valid: int, objective: float, verdict: bool) -> None:
    assert slice_is_good(SliBucket(T0, good, valid), objective) is verdict


# Locations' (good, valid) in one slice -> is the slice good? (None: no slice).
CASES = [
    ("any", [GOOD, BAD, BAD], True),
    ("any", [BAD, BAD], False),
    ("all", [GOOD, GOOD], True),
    ("all", [GOOD, BAD], False),
    ("all", [GOOD, (0, 0)], True),  # a location without data neither helps nor hurts
    ("quorum:2", [GOOD, BAD, GOOD], True),
    ("quorum:2", [BAD, BAD, GOOD], False),
    ("quorum:1", [GOOD, BAD], False),
    ("quorum:3", [BAD, BAD], True),  # fewer locations than the quorum cannot breach it
    ("any", [(0, 0), (0, 0)], None),
    ("all", [], None),
]


@pytest.mark.parametrize(("rule", "locations", "good"), CASES)
def test_a_slice_across_locations(
    rule: str, locations: list[tuple[int, int]], good: bool | None
) -> None:
    per_location = {f"loc{i}": [SliBucket(T0, g, v)] for i, (g, v) in enumerate(locations)}
    out = aggregate_slices(per_location, parse_aggregate(rule), 99.0)
    assert out == ([] if good is None else [SliBucket(T0, int(good), 1)])


def test_slices_are_judged_one_by_one_in_time_order() -> None:
    per_location = {
        "eu": [SliBucket(T0 + M, 10, 10), SliBucket(T0, 0, 10)],
        "us": [SliBucket(T0, 10, 10), SliBucket(T0 + 2 * M, 3, 10)],
    }
    assert aggregate_slices(per_location, Aggregate("all"), 99.0) == [
        SliBucket(T0, 0, 1),
        SliBucket(T0 + M, 1, 1),
        SliBucket(T0 + 2 * M, 0, 1),
    ]
    assert aggregate_slices(per_location, Aggregate("any"), 99.0) == [
        SliBucket(T0, 1, 1),
        SliBucket(T0 + M, 1, 1),
        SliBucket(T0 + 2 * M, 0, 1),
    ]


def test_pooled_is_not_sliced() -> None:
    with pytest.raises(ValueError, match="pooled objectives count events"):
        aggregate_slices({}, Aggregate("pooled"), 99.0)
