"""What one session's messages show (``StreamFindings``) and what went wrong beside them
(``Failure``): the plain values the stream judge returns and ``checks.judge`` reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

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
    foreign_users: tuple[str, ...] = ()  # whose events they were (user ids, first seen first)
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
