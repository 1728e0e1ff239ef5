"""Dotted paths into decoded events: ``type``, ``response.status``, ``1.user_id``, ``0``.

A path is compiled once (``compile_path``) into keys; ``lookup`` walks a value
with them. Integer segments index arrays and, on objects, are keys as text.
A JSON ``null`` counts as absent, so a rule never judges a field that is not
really there (PROFILES.md: an event on which a path is absent is not judged).
"""

from __future__ import annotations

from typing import Any

Keys = tuple[str | int, ...]


def check_path(path: str) -> str:
    """``path`` when it is a well-formed dotted path; ValueError naming what is wrong."""
    if not isinstance(path, str) or not path:
        raise ValueError(f"must be a dotted path such as type or payload.data, got {path!r}")
    if any(not part.strip() for part in path.split(".")):
        raise ValueError(f"has an empty segment: {path!r}")
    return path


def compile_path(path: str) -> Keys:
    """``"a.0.b"`` -> ``("a", 0, "b")``; the empty path -> ``()``."""
    if not path:
        return ()
    return tuple(int(part) if part.isdigit() else part for part in path.split("."))


def lookup(value: Any, keys: Keys) -> Any:
    """The value at ``keys`` in ``value``, or None when any step is absent (or no path)."""
    if not keys:
        return None
    for key in keys:
        if type(value) is dict:
            value = value.get(key if type(key) is str else str(key))
        elif type(value) is list and type(key) is int:
            value = value[key] if -len(value) <= key < len(value) else None
        else:
            return None
        if value is None:
            return None
    return value
