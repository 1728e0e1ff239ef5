"""A profile compiled for judging: paths turned into keys, lists into sets, cached.

``rules_for`` is called once per session; it is cached by the profile object's
identity. ``describe`` says in one line what a server's error (or a run that
ended not ok) said.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from probes.profiles.model import Profile
from probes.profiles.paths import Keys, compile_path, lookup


@dataclass(frozen=True, slots=True)
class Rules:
    """The judging half of a profile, compiled once per (profile, required events)."""

    type_keys: Keys
    type_from_keys: tuple[str, ...]
    ignore: frozenset[str]
    ts_keys: Keys
    correlate: Keys
    run_ids: tuple[Keys, ...]
    user: Keys
    constants: tuple[Keys, ...]
    start: frozenset[str]
    first: frozenset[str]
    tool_start: frozenset[str]
    tool_end: frozenset[str]
    tool_keys: Keys
    done: frozenset[str]
    done_first: str
    done_ok_keys: Keys
    done_ok_in: tuple[Any, ...]
    error: frozenset[str]
    error_if_present: tuple[Keys, ...]
    db_ms_keys: Keys
    order: str
    required: tuple[str, ...]
    min_counts: tuple[tuple[str, int], ...]
    seq_keys: Keys
    seq_start: int | None
    seq_required: bool
    flat: tuple[Any, ...] | None = None  # top-level keys of every path, when all are one key

    def event_type(self, value: Any) -> str | None:
        """The event's type, or None when it has none (a malformed message)."""
        if self.type_from_keys:
            if type(value) is dict:
                return next((k for k in self.type_from_keys if k in value), None)
            return None
        keys = self.type_keys
        one = len(keys) == 1 and type(value) is dict
        kind = value.get(keys[0]) if one else lookup(value, keys)
        return kind if type(kind) is str else None

    def done_ok(self, value: Any) -> bool:
        return not self.done_ok_keys or lookup(value, self.done_ok_keys) in self.done_ok_in

    def is_error(self, kind: str, value: Any) -> bool:
        if kind in self.error:
            return True
        return any(lookup(value, keys) is not None for keys in self.error_if_present)


_COMPILED: dict[tuple[int, tuple[str, ...]], tuple[Profile, Rules]] = {}


def rules_for(profile: Profile, required: tuple[str, ...] = ()) -> Rules:
    """``profile`` compiled for ``assess``; ``required`` (when given) replaces its list.

    Cached by the profile object's identity (hashing a whole profile per session
    cost more than the judging): a round hands every session the same object.
    """
    key = (id(profile), required)
    hit = _COMPILED.get(key)
    if hit is not None and hit[0] is profile:
        return hit[1]
    if len(_COMPILED) > 256:
        _COMPILED.clear()
    rules = _compile(profile, required)
    _COMPILED[key] = (profile, rules)
    return rules


def _compile(profile: Profile, required: tuple[str, ...]) -> Rules:
    m, c, i = profile.milestones, profile.completion, profile.isolation
    rules = Rules(
        type_keys=compile_path(profile.events.type_path),
        type_from_keys=profile.events.type_from_keys,
        ignore=frozenset(profile.events.ignore),
        ts_keys=compile_path(profile.events.ts_path),
        correlate=compile_path(profile.chat.correlate_path),
        run_ids=tuple(compile_path(p) for p in profile.chat.run_id_paths),
        user=compile_path(i.user_path),
        constants=tuple(compile_path(p) for p in i.constant_paths),
        start=frozenset((required[0],) if required else m.start),
        first=frozenset(m.first),
        tool_start=frozenset(m.tool_start),
        tool_end=frozenset(m.tool_end),
        tool_keys=compile_path(m.tool_path),
        done=frozenset(m.done),
        done_first=m.done[0],
        done_ok_keys=compile_path(m.done_ok_path),
        done_ok_in=m.done_ok_in,
        error=frozenset(m.error),
        error_if_present=tuple(compile_path(p) for p in m.error_if_present),
        db_ms_keys=compile_path(m.db_ms_path),
        order=c.order,
        required=required or c.required,
        min_counts=c.min_counts,
        seq_keys=compile_path(c.seq_path),
        seq_start=c.seq_start,
        seq_required=c.seq_required,
    )
    return replace(rules, flat=_flat(rules))


def _find(value: Any, key: str, depth: int = 4) -> Any:
    """The first ``key`` in ``value``'s objects, depth first (for an error's code/message)."""
    if depth < 0:
        return None
    items = (
        value.items() if type(value) is dict else enumerate(value) if type(value) is list else ()
    )
    for k, v in items:
        if k == key and isinstance(v, str | int) and not isinstance(v, bool):
            return v
    for _, v in (
        value.items() if type(value) is dict else enumerate(value) if type(value) is list else ()
    ):
        found = _find(v, key, depth - 1)
        if found is not None:
            return found
    return None


def describe(kind: str, value: Any, rules: Rules) -> str:
    """What a server error or a failed run said: ``code: message``, or the done status."""
    code, message = _find(value, "code"), _find(value, "message")
    if code is not None or message is not None:
        return f"{code if code is not None else '?'}: {message if message is not None else ''}"
    if kind in rules.done and rules.done_ok_keys:
        status = json.dumps(lookup(value, rules.done_ok_keys))
        return f"{kind} with {'.'.join(map(str, rules.done_ok_keys))} {status}"
    return kind


def _one_key(keys: Keys) -> str | None:
    return keys[0] if len(keys) == 1 and type(keys[0]) is str else None


def _flat(rules: Rules) -> tuple[Any, ...] | None:
    """(user, correlate, seq, ts keys, run id keys, constant keys) when every path the
    judge reads is one top-level key (agent-chat v1's case), else None."""
    paths = (rules.user, rules.correlate, rules.seq_keys, rules.ts_keys)
    if not all(not k or _one_key(k) for k in (*paths, *rules.run_ids, *rules.constants)):
        return None
    return (
        *(_one_key(k) for k in paths),
        tuple(_one_key(k) for k in rules.run_ids),
        tuple(_one_key(k) for k in rules.constants),
    )
