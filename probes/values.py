"""Value converters shared by the settings (``probes.config``) and the profiles
(``probes.profiles.parse``): each takes a raw TOML value and returns the typed
value or raises ``ValueError`` saying what is wrong (the caller adds the key).

Their own module so both parse values the same way without importing each other.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Conv = Callable[[Any], Any]

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


def as_str(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"must be a string, got {raw!r}")
    return raw


def as_nonempty(raw: Any) -> str:
    if not as_str(raw).strip():
        raise ValueError("must not be empty")
    return str(raw)


def as_bool(raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise ValueError(f"must be true or false, got {raw!r}")
    return raw


def as_choice(*options: str) -> Conv:
    def conv(raw: Any) -> str:
        if raw not in options:
            raise ValueError(f"must be one of {', '.join(options)}, got {raw!r}")
        return str(raw)

    return conv


def as_str_list(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(x, str) and x for x in raw):
        raise ValueError("must be a list of non-empty strings")
    return tuple(raw)
