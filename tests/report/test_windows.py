"""Which window a report covers, from the command line's flags."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest

from probes.cli.report import resolve_windows
from probes.errors import UsageError

NOW = datetime(2026, 3, 3, 12, 0, 30, tzinfo=UTC)


def flags(**given: str) -> argparse.Namespace:
    names = ("window", "since", "until", "baseline_window", "baseline_since", "baseline_until")
    return argparse.Namespace(**{name: given.get(name) for name in names})


@pytest.mark.parametrize(
    ("given", "since", "until"),
    [
        # Without --until the window runs to the end of the current minute:
        # a round probed a few seconds ago is in it.
        (
            {"window": "1h"},
            datetime(2026, 3, 3, 11, 1, tzinfo=UTC),
            datetime(2026, 3, 3, 12, 1, tzinfo=UTC),
        ),
        (
            {"since": "2026-03-03T10:00:00Z", "until": "2026-03-03T11:00:00Z"},
            datetime(2026, 3, 3, 10, tzinfo=UTC),
            datetime(2026, 3, 3, 11, tzinfo=UTC),
        ),
    ],
)
def test_window_from_flags(given: dict[str, str], since: datetime, until: datetime) -> None:
    assert resolve_windows(flags(**given), NOW)[:2] == (since, until)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({}, "say which window"),
        ({"window": "1h", "since": "2h"}, "give --window or --since, not both"),
        ({"since": "2026-03-03T11:00:00Z", "until": "2026-03-03T10:00:00Z"}, "the window is empty"),
    ],
)
def test_bad_windows_are_refused(given: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        resolve_windows(flags(**given), NOW)
