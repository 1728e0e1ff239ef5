"""Evaluations in, incident transitions out: the pure judgement of when to open and resolve.

The subject of an incident is one (probe, target, runner): a fault there opens
one incident, whichever signals show it. Each evaluation (one per saved round)
says whether the round failed and which objective's burn-rate alert fires, if
any:

- an incident opens at once when an objective's alert starts firing (``kind``
  "slo", with that objective), or after ``failure_threshold`` failed rounds in a
  row (``kind`` "rounds");
- it resolves after ``success_threshold`` healthy evaluations in a row: the
  round passed and no alert fires;
- a skipped round with no alert firing is unknown: it neither opens, resolves,
  nor breaks a streak.

No clock, database or logging: ``now`` and the new incident's id are passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

Kind = Literal["slo", "rounds"]


@dataclass(frozen=True, slots=True)
class Subject:
    """What an incident is about: one probe against one target from one runner."""

    probe: str
    target: str
    runner: str

    @property
    def key(self) -> str:
        """A stable text key of the subject (its row in the store)."""
        return "\x1f".join([self.probe, self.target, self.runner])


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One look at a subject after a round, with the figures that say so.

    ``round_failed`` is None for a skipped round; ``firing`` names the objective
    whose burn-rate alert fires (None: none does).
    """

    subject: Subject
    round_failed: bool | None
    firing: str | None = None
    summary: str = ""
    severity: str = "page"
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def bad(self) -> bool | None:
        if self.round_failed or self.firing is not None:
            return True
        return None if self.round_failed is None else False


@dataclass(frozen=True, slots=True)
class Incident:
    """An incident as stored: open while ``resolved_at`` is None."""

    id: str
    subject: Subject
    kind: Kind  # what opened it: an objective's alert, or failed rounds
    objective: str | None
    opened_at: datetime
    resolved_at: datetime | None
    severity: str
    summary: str
    figures: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Tracked:
    """A subject's state between evaluations."""

    subject: Subject
    bad_streak: int = 0
    good_streak: int = 0
    incident: Incident | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """An incident opened or resolved by one evaluation."""

    status: Literal["firing", "resolved"]
    incident: Incident


@dataclass(frozen=True, slots=True)
class Thresholds:
    failure_threshold: int = 2
    success_threshold: int = 2


def step(
    tracked: Tracked | None,
    evaluation: Evaluation,
    thresholds: Thresholds,
    *,
    now: datetime,
    new_id: str,
) -> tuple[Tracked, Transition | None]:
    """The subject's next state after ``evaluation``, and the transition it causes (if any)."""
    state = tracked or Tracked(evaluation.subject)
    if evaluation.bad is None:
        return state, None
    if evaluation.bad:
        streak = state.bad_streak + 1 if evaluation.round_failed else state.bad_streak
        state = replace(state, bad_streak=streak, good_streak=0)
        opens = evaluation.firing is not None or streak >= thresholds.failure_threshold
        if state.incident is None and opens:
            kind: Kind = "slo" if evaluation.firing is not None else "rounds"
            incident = Incident(
                new_id, evaluation.subject, kind, evaluation.firing, now, None,
                evaluation.severity, evaluation.summary, evaluation.figures,
            )  # fmt: skip
            return replace(state, incident=incident), Transition("firing", incident)
        return state, None
    state = replace(state, bad_streak=0, good_streak=state.good_streak + 1)
    if state.incident is not None and state.good_streak >= thresholds.success_threshold:
        resolved = replace(state.incident, resolved_at=now)
        return replace(state, incident=None), Transition("resolved", resolved)
    return state, None
