"""Pure findings on one session's event stream, as a profile reads it (PROFILES.md).

``rules.Rules`` is a profile compiled for judging (paths turned into keys, lists
into sets); ``assess`` takes the decoded values one session received, each
with the client ms it arrived at, and returns ``findings.StreamFindings``. No I/O,
no clock. ``checks.judge`` then picks the outcome and reason.

Whose events are whose: an event is *foreign* when it carries ``user_path``
with another user's id, a ``constant_paths`` value other than the run's (the
first value seen on an event of this chat), or another user's canary nonce.
A run id (``run_id_paths``) other than the run's is foreign too, and a constant
that changes; both judge only what came after the chat was sent (a handshake
frame belongs to no run).
It *belongs to the run* when it is not foreign, its ``correlate_path`` (when
it carries one) is this chat's request id, its run id (when it carries one)
is the run's, and it came after the chat was sent. Completeness and order are
judged on the run's events only; a path an event does not carry is not judged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from itertools import pairwise
from typing import Any

from probes.judging.findings import Failure, Received, StreamFindings, seq_gaps
from probes.judging.rules import Rules, describe, rules_for
from probes.profiles.paths import lookup
from probes.records import Event

__all__ = [
    "Failure", "Received", "Rules", "StreamFindings", "assess", "describe", "rules_for",
    "seq_gaps", "tools_paired",
]  # fmt: skip


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
    sent_ms: float,
) -> tuple[Any, list[Any]]:
    """The run id and the constants' values the run's events must keep.

    With ``run_id_paths``: those of the first event of this user (carrying
    ``user_path`` when the profile has one) and chat that carries a run id.
    Without: the first value of each constant on an event of this chat.
    Only events that came after the chat was sent are looked at: a handshake
    frame carries no run.
    """
    refs: list[Any] = [None] * len(rules.constants)
    for index, ms, _, _, uid, corr, rid, consts, _, _ in seen:
        if (uid is not None and uid != user_id) or index in canary_foreign or ms < sent_ms:
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
    run_id, refs = _references(seen, rules, user_id, request_id, canary_foreign, sent_ms)
    events: list[Event] = []
    own: list[tuple[str, Any]] = []
    own_ms: list[tuple[float, str, Any]] = []
    seqs: list[int] = []
    errors: list[str] = []
    foreign_count = 0
    strangers: list[str] = []
    check_errors = bool(rules.error or rules.error_if_present)
    for index, ms, kind, value, uid, corr, rid, consts, seq, ts in seen:  # the hot loop
        after = ms >= sent_ms  # run ids and constants judge the run's events, not the handshake's
        foreign = (
            (uid is not None and uid != user_id)
            or index in canary_foreign
            or (after and rid is not None and run_id is not None and rid != run_id)
        )
        if refs and not foreign and after:
            for c, r in zip(consts, refs, strict=True):
                if c is not None and r is not None and c != r:
                    foreign = True
        seq = seq if type(seq) is int else None
        ts = float(ts) if type(ts) is float or type(ts) is int else None
        events.append(Event(kind, ms, seq, ts, foreign))
        if foreign:
            foreign_count += 1
            if uid is not None and uid != user_id and str(uid) not in strangers:
                strangers.append(str(uid))
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
        foreign_users=tuple(strangers),
        malformed=malformed,
        agent_run_id=None if run_id is None else str(run_id),
        db_ms=_db_ms(lookup(done[1], rules.db_ms_keys)) if done and rules.db_ms_keys else {},
        first_ms=first,
        completed_ms=done[0] if done else None,
        server_errors=tuple(not_ok),
        error_events=tuple(errors),
    )
