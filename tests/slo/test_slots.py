"""Slot arithmetic: epoch-aligned, exact, the same for every runner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from probes.slots import first_slot_at_or_after, slot_of, slots_between

T = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("moment", "every", "slot"),
    [
        (T, 60.0, T),
        (T + 59.999 * S, 60.0, T),
        (T + 60 * S, 60.0, T + 60 * S),
        (T + 2.9 * S, 1.5, T + 1.5 * S),
        (T - 0.000001 * S, 60.0, T - 60 * S),
    ],
)
def test_the_slot_holding_a_moment(moment: datetime, every: float, slot: datetime) -> None:
    assert slot_of(moment, every) == slot


@pytest.mark.parametrize(
    ("since", "until", "every", "count"),
    [
        (T, T + 60 * S, 10.0, 6),
        (T + 1 * S, T + 60 * S, 10.0, 5),
        (T, T + 60.000001 * S, 10.0, 7),
        (T, T, 10.0, 0),
        (T + 5 * S, T, 10.0, 0),
        (T + 1 * S, T + 9 * S, 10.0, 0),
        (T, T + 120 * S, 3.0, 40),
    ],
)
def test_slots_in_a_window(since: datetime, until: datetime, every: float, count: int) -> None:
    assert slots_between(since, until, every) == count


def test_the_first_slot_at_or_after() -> None:
    assert first_slot_at_or_after(T, 60.0) == T
    assert first_slot_at_or_after(T + S, 60.0) == T + 60 * S


def test_a_non_positive_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="every_s must be positive"):
        slot_of(T, 0)
