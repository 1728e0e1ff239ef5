"""Pure findings on one session's event stream, as a profile reads it (PROFILES.md).

``Rules`` is a profile compiled for judging (paths turned into keys, lists
into sets); ``assess`` takes the decoded values one session received, each
with the client ms it arrived at, and returns a ``checks.StreamFindings``. No I/O,
no clock. ``checks.judge`` then picks the outcome and reason.

Whose events are whose: an event is *foreign* when it carries ``user_path``
with another user's id, a ``constant_paths`` value other than the run's (the
first value seen on an event of this chat), or another user's canary nonce.
A run id (``run_id_paths``) other than the run's is foreign too.
It *belongs to the run* when it is not foreign, its ``correlate_path`` (when
it carries one) is this chat's request id, its run id (when it carries one)
is the run's, and it came after the chat was sent. Completeness and order are
judged on the run's events only; a path an event does not carry is not judged.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any

from probes.profiles.model import Profile
from probes.profiles.paths import Keys, compile_path, lookup
from probes.records import Event, Reason

Received = tuple[float, Any]


@dataclass(frozen=True, slots=True)
class StreamFindings:
    """What the messages of one session show, before any transport failure is known."""

    events: tuple[Event, ...] = ()
    missing_events: tuple[str, ...] = ()
    order_ok: bool = False
    seq_gaps: int = 0  # runs of seq numbers missing below the highest seq seen
    foreign_events: int = 0
    malformed: int = 0  # values without a type where the profile reads it
    agent_run_id: str | None = None
    db_ms: dict[str, float] = field(default_factory=dict)
    first_ms: float | None = None  # the run's first (``first`` milestone) event
    completed_ms: float | None = None  # the run's ``done`` that passed ``done_ok``
    server_errors: tuple[str, ...] = ()  # what ``done`` events that failed ``done_ok`` said
    error_events: tuple[str, ...] = ()  # what ``error`` milestones said (protocol_error)

    @property
    def in_order(self) -> bool:
        return self.order_ok and self.seq_gaps == 0


@dataclass(frozen=True, slots=True)
class Failure:
    """A failure seen beside the messages, as ``probes.target.connection.classify`` mapped it."""

    reason: Reason
    detail: str
    decisive: bool = False  # it stopped the session before the run (a failed handshake step)


def seq_gaps(seqs: Sequence[int], start: int | None = 1) -> int:
    """Runs of numbers missing from start..max(seqs) (start None: the lowest seen):
    ``1, 2, 5`` has one gap, ``2, 4`` two."""
    seen = set(seqs)
    if not seen:
        return 0
    gaps, in_gap = 0, False
    for n in range(min(seen) if start is None else start, max(seen) + 1):
        missing = n not in seen
        gaps += missing and not in_gap
        in_gap = missing
    return gaps


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


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def _subsequence(types: Sequence[str], required: Sequence[str]) -> bool:
    """``required`` appears in ``types`` in this order (other types may come between)."""
    at = 0
    for kind in types:
        if at < len(required) and kind == required[at]:
            at += 1
    return at == len(required)


def tools_paired(own: Sequence[tuple[str, Any]], rules: Rules) -> bool:
    """Every tool start is followed by a tool end (for the same tool, with ``tool_path``)."""
    pending: list[Any] = []
    for kind, value in own:
        if kind in rules.tool_start:
            pending.append(lookup(value, rules.tool_keys))
        elif kind in rules.tool_end:
            tool = lookup(value, rules.tool_keys)
            if tool not in pending:
                return False
            pending.remove(tool)
    return not pending


def _count(types: list[str], of: frozenset[str]) -> int:
    return sum(types.count(kind) for kind in of)


def _order_ok(own: Sequence[tuple[str, Any]], seqs: Sequence[int], rules: Rules) -> bool:
    if rules.seq_keys:
        if rules.seq_required and len(seqs) != len(own):
            return False
        for a, b in pairwise(seqs):
            if a >= b:
                return False
    if rules.order != "ordered":
        return True
    types = [kind for kind, _ in own]
    if not types or not _subsequence(types, rules.required):
        return False
    if rules.start and (types[0] not in rules.start or _count(types, rules.start) != 1):
        return False
    if types[-1] not in rules.done or not rules.done_ok(own[-1][1]):
        return False
    if _count(types, rules.done) != 1:
        return False
    return not (rules.tool_start or rules.tool_end) or tools_paired(own, rules)


def _missing(types: Counter[str], rules: Rules, done_ok: bool) -> tuple[str, ...]:
    if rules.order == "at_least":
        missing = [t for t, n in rules.min_counts if types[t] < n]
    else:
        missing = [t for t in dict.fromkeys(rules.required) if not types[t]]
    if not done_ok and not any(t in rules.done for t in missing):
        missing.append(rules.done_first)
    return tuple(missing)


def _db_ms(raw: Any) -> dict[str, float]:
    if type(raw) is not dict:
        return {}
    return {str(k): float(v) for k, v in raw.items() if type(v) is int or type(v) is float}


# (index in received, ms, type, value, user id, correlation, run id, constants, seq, ts)
Seen = tuple[int, float, str, Any, Any, Any, Any, tuple[Any, ...], Any, Any]


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


def _fields(typed: Sequence[tuple[int, float, str, Any]], rules: Rules) -> list[Seen]:
    """Every path the rules read, read once per event (top-level keys straight from the dict)."""
    flat = rules.flat
    uk, ck, sk, tk, rks, cks = flat or (None, None, None, None, (), ())
    out: list[Seen] = []
    for index, ms, kind, value in typed:
        if flat is not None and type(value) is dict:
            get = value.get
            rid = next((r for k in rks if (r := get(k)) is not None), None) if rks else None
            out.append((
                index, ms, kind, value, get(uk) if uk else None, get(ck) if ck else None, rid,
                tuple([get(k) for k in cks]), get(sk) if sk else None, get(tk) if tk else None,
            ))  # fmt: skip
            continue
        rid = next((r for k in rules.run_ids if (r := lookup(value, k)) is not None), None)
        out.append((
            index, ms, kind, value, lookup(value, rules.user), lookup(value, rules.correlate),
            rid, tuple(lookup(value, k) for k in rules.constants),
            lookup(value, rules.seq_keys), lookup(value, rules.ts_keys),
        ))  # fmt: skip
    return out


def _references(
    seen: Sequence[Seen],
    rules: Rules,
    user_id: str,
    request_id: str,
    canary_foreign: Collection[int],
) -> tuple[Any, list[Any]]:
    """The run id and the constants' values the run's events must keep.

    With ``run_id_paths``: those of the first event of this user (carrying
    ``user_path`` when the profile has one) and chat that carries a run id.
    Without: the first value of each constant on an event of this chat.
    """
    refs: list[Any] = [None] * len(rules.constants)
    for index, _, _, _, uid, corr, rid, consts, _, _ in seen:
        if (uid is not None and uid != user_id) or index in canary_foreign:
            continue
        if rules.correlate and corr != request_id:
            continue
        if rules.run_ids:
            if rid is not None and (uid is not None or not rules.user):
                return rid, list(consts)
            continue
        refs = [r if r is not None else c for r, c in zip(refs, consts, strict=True)]
    return None, refs


def assess(
    received: Sequence[Received],
    rules: Rules,
    *,
    user_id: str,
    request_id: str,
    sent_ms: float = 0.0,
    canary_foreign: Collection[int] = (),
) -> StreamFindings:
    """Judge one session's values (arrival order, ms since it started) for this chat.

    ``canary_foreign`` holds the indices into ``received`` of the values that
    carried another user's nonce.
    """
    typed: list[tuple[int, float, str, Any]] = []
    malformed = 0
    for index, (ms, value) in enumerate(received):
        kind = rules.event_type(value)
        if kind is None:
            malformed += 1
        elif kind not in rules.ignore:
            typed.append((index, ms, kind, value))
    seen = _fields(typed, rules)
    run_id, refs = _references(seen, rules, user_id, request_id, canary_foreign)
    events: list[Event] = []
    own: list[tuple[str, Any]] = []
    own_ms: list[tuple[float, str, Any]] = []
    seqs: list[int] = []
    errors: list[str] = []
    foreign_count = 0
    check_errors = bool(rules.error or rules.error_if_present)
    for index, ms, kind, value, uid, corr, rid, consts, seq, ts in seen:  # the hot loop
        foreign = (
            (uid is not None and uid != user_id)
            or index in canary_foreign
            or (rid is not None and run_id is not None and rid != run_id)
        )
        if refs and not foreign:
            for c, r in zip(consts, refs, strict=True):
                if c is not None and r is not None and c != r:
                    foreign = True
        seq = seq if type(seq) is int else None
        ts = float(ts) if type(ts) is float or type(ts) is int else None
        events.append(Event(kind, ms, seq, ts, foreign))
        if foreign:
            foreign_count += 1
            continue
        if (corr is not None and corr != request_id) or (rid is not None and rid != run_id):
            continue
        if check_errors and rules.is_error(kind, value):
            errors.append(describe(kind, value, rules))
        if ms >= sent_ms:
            own.append((kind, value))
            own_ms.append((ms, kind, value))
            if seq is not None:
                seqs.append(seq)
    counts = Counter([kind for kind, _ in own])
    done: tuple[float, Any] | None = None
    first: float | None = None
    not_ok: list[str] = []
    for ms, kind, value in own_ms:
        if first is None and (not rules.first or kind in rules.first):
            first = ms
        if kind in rules.done:
            if not rules.done_ok(value):
                not_ok.append(describe(kind, value, rules))
            elif done is None:
                done = (ms, value)
    return StreamFindings(
        events=tuple(events),
        missing_events=_missing(counts, rules, done is not None),
        order_ok=_order_ok(own, seqs, rules),
        seq_gaps=seq_gaps(seqs, start=rules.seq_start),
        foreign_events=foreign_count,
        malformed=malformed,
        agent_run_id=None if run_id is None else str(run_id),
        db_ms=_db_ms(lookup(done[1], rules.db_ms_keys)) if done and rules.db_ms_keys else {},
        first_ms=first,
        completed_ms=done[0] if done else None,
        server_errors=tuple(not_ok),
        error_events=tuple(errors),
    )
