"""Failing and breaching rounds grouped by reason, with times, users, close codes and errors.

Built from the same session and round rows as the CSV evidence, so every
count here can be checked against it. Session failures are grouped by the
session's reason (``probes.records.REASONS``); rounds that failed without a
failed session are grouped by their round-level cause; then each threshold
objective a record breached (``probes.judging.breaches``: a round can pass on
the protocol and still breach one) is a group of its own, "breaching NAME",
with each record's figure against the threshold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from probes.config import SloSettings
from probes.judging import breaches
from probes.judging.texts import without_reason
from probes.records import REASONS
from probes.results import ResultStore

# Rounds listed per failure reason; the counts always cover every round.
MAX_LISTED = 100
MAX_ERROR_CHARS = 200
ROUND_REASONS = ("bad token not refused", "database check failed", "round error", "round skipped")


@dataclass(frozen=True, slots=True)
class FailedRound:
    """One round under one failure reason: who failed, how it closed, what was said."""

    run_id: str
    started_at: str  # ISO 8601, as stored
    users: tuple[str, ...]
    close_codes: tuple[int | None, ...]
    errors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FailureGroup:
    """Every failing round of one reason; ``listed`` holds at most ``MAX_LISTED`` of them."""

    reason: str
    sessions: int  # failed sessions with this reason (0 for round-level reasons)
    rounds: int
    listed: tuple[FailedRound, ...]
    run_ids: tuple[str, ...] = ()  # every round of the group, listed or not


def _short(text: object) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 1] + "…"


class _Grouper:
    """Collects failing rounds under reasons, keeping the first ``MAX_LISTED`` of each."""

    def __init__(self) -> None:
        self.rounds: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.sessions: dict[str, int] = defaultdict(int)

    def add(
        self,
        reason: str,
        run_id: str,
        started_at: str,
        *,
        user: str | None = None,
        close_code: int | None = None,
        error: str = "",
        session: bool = False,
    ) -> None:
        entry = self.rounds[reason].setdefault(
            run_id, {"started_at": started_at, "users": [], "codes": [], "errors": []}
        )
        if session:
            self.sessions[reason] += 1
            entry["users"].append(user or "")
            if close_code not in entry["codes"]:
                entry["codes"].append(close_code)
        if error and _short(error) not in entry["errors"] and len(entry["errors"]) < 3:
            entry["errors"].append(_short(error))

    def groups(self) -> tuple[FailureGroup, ...]:
        order = {name: i for i, name in enumerate((*REASONS, "unknown", *ROUND_REASONS))}
        out = []
        # failures first (in REASONS order), then the breaching groups by objective name
        for reason in sorted(self.rounds, key=lambda r: (order.get(r, len(order)), r)):
            entries = sorted(
                self.rounds[reason].items(), key=lambda kv: (kv[1]["started_at"], kv[0])
            )
            listed = tuple(
                FailedRound(
                    run_id,
                    e["started_at"],
                    tuple(e["users"]),
                    tuple(e["codes"]),
                    tuple(e["errors"]),
                )
                for run_id, e in entries[:MAX_LISTED]
            )
            ids = tuple(run_id for run_id, _ in entries)
            out.append(FailureGroup(reason, self.sessions[reason], len(entries), listed, ids))
        return tuple(out)


def failure_groups(
    store: ResultStore,
    sessions: Iterable[Mapping[str, Any]],
    rounds: Iterable[Mapping[str, Any]],
    slos: tuple[SloSettings, ...] = (),
    timings: Iterable[Mapping[str, Any]] = (),
) -> tuple[FailureGroup, ...]:
    """Failed sessions by their reason, rounds that failed or did not run by cause, then the
    records over each threshold objective (``breaching NAME``)."""
    return _grouped(store, sessions, rounds, slos, timings).groups()


def breaching_rounds(groups: Iterable[FailureGroup], rounds: Iterable[Mapping[str, Any]]) -> int:
    """Rounds that passed on the protocol yet are in a ``breaching`` group."""
    passed = {r["run_id"] for r in rounds if r["status"] == "passed"}
    hit = {rid for g in groups if g.reason.startswith(BREACHING) for rid in g.run_ids}
    return len(hit & passed)


def _grouped(
    store: ResultStore,
    sessions: Iterable[Mapping[str, Any]],
    rounds: Iterable[Mapping[str, Any]],
    slos: tuple[SloSettings, ...],
    timings: Iterable[Mapping[str, Any]],
) -> _Grouper:
    sessions, rounds = list(sessions), list(rounds)
    grouper = _Grouper()
    started = {}
    for r in rounds:
        started[r["run_id"]] = r["started_at"]
    for s in sessions:
        if s["outcome"] == "ok":
            continue
        grouper.add(
            s["reason"] or "unknown",
            s["run_id"],
            started.get(s["run_id"], s["started_at"]),
            user=s["user_id"],
            close_code=s["close_code"],
            error=without_reason(s["reason"], s["error"] or s["close_reason"] or ""),
            session=True,
        )
    looked_up = 0
    for r in rounds:
        status, run_id, at = r["status"], r["run_id"], r["started_at"]
        if status in ("error", "skipped"):
            grouper.add(f"round {status}", run_id, at, error=r["reason"])
        elif status == "failed" and r["auth_ok"] is False:
            grouper.add("bad token not refused", run_id, at, error=r["auth_error"] or "")
        elif status == "failed" and not r["sessions_failed"]:
            # only the DB steps are left to have failed; their errors live on the round
            errors: list[str] = []
            if looked_up < MAX_LISTED and (whole := store.round(run_id)) is not None:
                looked_up += 1
                errors = [f"{t.operation}: {t.error}" for t in whole.db_timings if not t.ok]
            grouper.add("database check failed", run_id, at, error="; ".join(errors))
    _add_breaches(grouper, sessions, rounds, slos, timings)
    return grouper


BREACHING = "breaching "  # the prefix of a breach group's reason: "breaching first-event-latency"


def _add_breaches(
    grouper: _Grouper,
    sessions: list[Mapping[str, Any]],
    rounds: list[Mapping[str, Any]],
    slos: tuple[SloSettings, ...],
    timings: Iterable[Mapping[str, Any]],
) -> None:
    """Each record over a threshold objective, under ``breaching NAME``, with its figure."""
    counted = {r["run_id"]: r for r in rounds if r["status"] in ("passed", "failed")}
    for s in sessions:
        if s["run_id"] not in counted:
            continue  # sessions of error/skipped rounds are not SLI events
        for b in breaches.over_threshold(breaches.of_session_row(s, slos)):
            at = counted[s["run_id"]]["started_at"]
            grouper.add(BREACHING + b.objective, s["run_id"], at, user=s["user_id"],
                        close_code=s["close_code"], error=b.detail, session=True)  # fmt: skip
    per_round: dict[str, list[tuple[str, bool, float | None, float | None]]] = {}
    for t in timings:
        per_round.setdefault(t["run_id"], []).append(
            (t["operation"], t["ok"], t["server_ms"], t["client_ms"])
        )
    for r in rounds:
        found = breaches.round_breaches(
            slos,
            probe=r["probe"],
            memory_growth_mb=r["memory_growth_mb"],
            timings=per_round.get(r["run_id"], ()),
        )
        for b in breaches.over_threshold(found):
            label = f"{b.operation} {b.detail}" if b.operation else b.detail
            grouper.add(BREACHING + b.objective, r["run_id"], r["started_at"], error=label)
