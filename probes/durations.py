"""Durations as users write them (``"90s"``, ``"5m"``, ``"7d"``) -> seconds.

Its own module so that both the settings (``probes.config``) and the
profiles (``probes.profiles``) parse durations the same way without importing
each other.
"""

from __future__ import annotations

import re

DAY = 86400.0
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY, "w": 7 * DAY, None: 1.0}


def parse_duration(text: str | float | int) -> float:
    """``"90s"``, ``"5m"``, ``"1h"``, ``"7d"``, ``"2w"`` or a number of seconds -> seconds."""
    if isinstance(text, bool):
        raise ValueError("expected a duration such as 30s, 5m, 1h or 7d")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _DURATION.match(text)
        if not match:
            raise ValueError(f"expected a duration such as 30s, 5m, 1h or 7d, got {text!r}")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError("must be a positive duration")
    return seconds
