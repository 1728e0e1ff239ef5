"""Failing rounds grouped by reason, with times, users, close codes and errors.

Built from the same session and round rows as the CSV evidence, so every
count here can be checked against it. Session failures are grouped by the
session's reason (``probes.records.REASONS``); rounds that failed without a
failed session are grouped by their round-level cause.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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
            out.append(FailureGroup(reason, self.sessions[reason], len(entries), listed))
        return tuple(out)


def failure_groups(
    store: ResultStore, sessions: Iterable[Mapping[str, Any]], rounds: Iterable[Mapping[str, Any]]
) -> tuple[FailureGroup, ...]:
    """Failed sessions by their reason, then rounds that failed or did not run, by cause."""
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
            error=s["error"] or s["close_reason"],
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
    return grouper.groups()
