"""Which window a report covers, from the command line's flags."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest

from dashboard.report.model import align
from probes.cli.report import resolve_windows
from probes.errors import UsageError

NOW = datetime(2026, 3, 3, 12, 0, 30, tzinfo=UTC)


def flags(**given: str) -> argparse.Namespace:
    names = ("window", "since", "until", "baseline_window", "baseline_since", "baseline_until")
    return argparse.Namespace(**{name: given.get(name) for name in names})


@pytest.mark.parametrize(
    ("given", "since", "until"),
    [
        # Without --until the window ends now; command() then rounds it down
        # to whole minutes, as docs/reports.md says (never into the future).
        (
            {"window": "1h"},
            datetime(2026, 3, 3, 11, 0, 30, tzinfo=UTC),
            datetime(2026, 3, 3, 12, 0, 30, tzinfo=UTC),
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
        ({"window": "1h", "until": "2026-03-03T13:00:00Z"}, "--until: .* is in the future"),
        ({"since": "2026-03-04T00:00:00Z"}, "--since: .* is in the future"),
    ],
)
def test_bad_windows_are_refused(given: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        resolve_windows(flags(**given), NOW)


def test_window_end_is_rounded_down_never_up() -> None:
    """`--since 2m` at 12:00:30 covers 11:59 to 12:00: the minute under way is not in it."""
    since, until, _ = resolve_windows(flags(since="2m"), NOW)
    assert align(since, until) == (
        datetime(2026, 3, 3, 11, 59, tzinfo=UTC),
        datetime(2026, 3, 3, 12, 0, tzinfo=UTC),
    )
