"""Records + objectives -> breaches: which session or round broke which objective, by how much.

Pure: no clock, database or logging. A probe's own verdict (a round's
``passed``/``failed``, a session's ``ok``/``failed``) is about the protocol;
the threshold objectives (latency, memory growth, DB latency) judge the same
records against a number. ``breaches`` judges every record against each
objective that covers it, with the same good/valid rules the store counts in
SQL (``probes.results.sli``), so the SLI and the records it rests on agree:

- latency: a session that connected (no refused handshake) is bad when its
  first event / ``agent_completed`` never came or came after ``threshold_ms``;
- memory growth: a round with memory figures is bad when it grew more than
  ``threshold_mb``;
- DB latency: a timing of the objective's operation is bad when it failed or
  took (server ms, else client ms) more than ``threshold_ms``.

The states are named once, here, and every view uses them: a round is
``passed``, ``breaching`` (passed on the protocol, yet over an objective's
threshold), ``failed``, ``error`` or ``skipped``; a session ``ok``,
``breaching`` or ``failed``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from probes.config import SloSettings
from probes.records import RoundResult, SessionResult

RoundState = Literal["passed", "breaching", "failed", "error", "skipped"]
SessionState = Literal["ok", "breaching", "failed"]
BREACHING = "breaching"
LATENCY_FIELDS = {"first_event_latency": "first_event_ms", "completion_latency": "completion_ms"}
MISSING = {"first_event_latency": "no first event", "completion_latency": "no agent_completed"}


@dataclass(frozen=True, slots=True)
class Breach:
    """One record over one objective's threshold; ``measured`` None when it never came."""

    objective: str
    sli: str
    subject: str  # the user id of a session, "round" for a round-level figure
    measured: float | None
    threshold: float
    unit: str  # "ms" or "MB"
    operation: str = ""
    failed: bool = False  # a DB operation that failed outright

    @property
    def over(self) -> float | None:
        """How far over the threshold (None when nothing was measured)."""
        return None if self.measured is None else self.measured - self.threshold

    @property
    def detail(self) -> str:
        """``806.0 ms > 500 ms, +306.0 ms``, ``no first event (≤ 500 ms)``, ``failed``."""
        limit = f"{self.threshold:g} {self.unit}"
        if self.failed:
            return f"{self.operation} failed"
        if self.measured is None:
            return f"{MISSING.get(self.sli, 'not measured')} (≤ {limit})"
        over = self.measured - self.threshold
        return f"{self.measured:.1f} {self.unit} > {limit}, +{over:.1f} {self.unit}"

    @property
    def text(self) -> str:
        """``first-event-latency: 806.0 ms > 500 ms, +306.0 ms``."""
        return f"{self.objective}: {self.detail}"


def _covers(slo: SloSettings, probe: str) -> bool:
    return slo.probe is None or slo.probe == probe


def session_breaches(
    slos: Sequence[SloSettings],
    *,
    probe: str,
    user: str,
    connected: bool,
    first_event_ms: float | None,
    completion_ms: float | None,
) -> tuple[Breach, ...]:
    """The latency objectives one session breaches (only a connected session is judged)."""
    if not connected:
        return ()
    values = {"first_event_ms": first_event_ms, "completion_ms": completion_ms}
    out = []
    for slo in slos:
        field = LATENCY_FIELDS.get(slo.sli)
        if field is None or slo.threshold_ms is None or not _covers(slo, probe):
            continue
        value = values[field]
        if value is None or value > slo.threshold_ms:
            out.append(Breach(slo.name, slo.sli, user, value, slo.threshold_ms, "ms"))
    return tuple(out)


def db_floor(slos: Sequence[SloSettings]) -> float | None:
    """The lowest DB-latency threshold (None: no DB objective has one). A timing that is
    ok with a figure at most this breaches no objective (``round_breaches``)."""
    limits = [s.threshold_ms for s in slos if s.sli == "db_latency" and s.threshold_ms is not None]
    return min(limits) if limits else None


def latency_floors(slos: Sequence[SloSettings]) -> dict[str, float]:
    """Each latency field's lowest threshold (``first_event_ms``, ``completion_ms``; a field
    no objective has a threshold for is absent). A session whose measured figures are at
    most these breaches no objective (``session_breaches``, ``over_threshold``)."""
    floors: dict[str, float] = {}
    for s in slos:
        field = LATENCY_FIELDS.get(s.sli)
        if field is not None and s.threshold_ms is not None:
            floors[field] = min(floors.get(field, s.threshold_ms), s.threshold_ms)
    return floors


def round_breaches(
    slos: Sequence[SloSettings],
    *,
    probe: str,
    memory_growth_mb: float | None,
    timings: Iterable[tuple[str, bool, float | None, float | None]] = (),
) -> tuple[Breach, ...]:
    """The memory and DB objectives one round breaches.

    ``timings`` are (operation, ok, server_ms, client_ms) of the round's DB checks.
    """
    timings = list(timings)
    out = []
    for slo in slos:
        if not _covers(slo, probe):
            continue
        if slo.sli == "memory_growth" and slo.threshold_mb is not None:
            if memory_growth_mb is not None and memory_growth_mb > slo.threshold_mb:
                out.append(
                    Breach(slo.name, slo.sli, "round", memory_growth_mb, slo.threshold_mb, "MB")
                )
        elif slo.sli == "db_latency" and slo.threshold_ms is not None:
            for operation, ok, server_ms, client_ms in timings:
                if slo.operation is not None and operation != slo.operation:
                    continue
                ms = server_ms if server_ms is not None else client_ms
                if ok and ms is not None and ms <= slo.threshold_ms:
                    continue
                limit = slo.threshold_ms
                out.append(Breach(slo.name, slo.sli, "round", ms, limit, "ms", operation, not ok))
    return tuple(out)


def connected(http_status: int | None, connect_ms: float | None) -> bool:
    """A session the latency objectives judge: no refused handshake, and it connected."""
    return http_status is None and connect_ms is not None


def of_session(s: SessionResult, slos: Sequence[SloSettings]) -> tuple[Breach, ...]:
    return session_breaches(
        slos,
        probe=s.probe,
        user=s.user_id,
        connected=connected(s.http_status, s.connect_ms),
        first_event_ms=s.first_event_ms,
        completion_ms=s.completion_ms,
    )


def of_session_row(row: Mapping[str, Any], slos: Sequence[SloSettings]) -> tuple[Breach, ...]:
    """As ``of_session``, for a stored session row (keys as the store's session rows)."""
    return session_breaches(
        slos,
        probe=str(row.get("probe", "")),
        user=str(row.get("user_id", "")),
        connected=connected(row.get("http_status"), row.get("connect_ms")),
        first_event_ms=row.get("first_event_ms"),
        completion_ms=row.get("completion_ms"),
    )


def of_round(r: RoundResult, slos: Sequence[SloSettings]) -> tuple[Breach, ...]:
    """Every breach of a whole round: its own figures first, then each session's."""
    own = round_breaches(
        slos,
        probe=r.probe,
        memory_growth_mb=r.memory_growth_mb,
        timings=[(t.operation, t.ok, t.server_ms, t.client_ms) for t in r.db_timings],
    )
    return own + tuple(b for s in r.sessions for b in of_session(s, slos))


def over_threshold(found: Iterable[Breach]) -> list[Breach]:
    """The breaches a failure does not already explain: a figure measured over its threshold.

    A session that never sent its first event, or a DB step that failed, is
    already ``failed`` with that reason; views list those under the failure
    and these as ``breaching``.
    """
    return [b for b in found if b.measured is not None and not b.failed]


def round_state(status: str, breaches: Sequence[Breach]) -> str:
    """``breaching`` for a round that passed on the protocol but broke an objective."""
    return BREACHING if status == "passed" and breaches else status


def session_state(outcome: str, breaches: Sequence[Breach]) -> str:
    """``breaching`` for a session that ended ok but broke a latency objective."""
    if outcome != "ok":
        return "failed"
    return BREACHING if breaches else "ok"


def summary(breaches: Sequence[Breach]) -> str:
    """One short line: each objective once, with its count and worst case.

    ``first-event-latency x3 (worst 806.0 ms > 500 ms, +306.0 ms)``.
    """
    counts = Counter(b.objective for b in breaches)
    parts = []
    for name, n in counts.items():
        mine = [b for b in breaches if b.objective == name]
        worst = max(mine, key=lambda b: float("inf") if b.measured is None else b.measured)
        count = f" x{n}" if n > 1 else ""
        worst_text = f"worst {worst.detail}" if n > 1 else worst.detail
        parts.append(f"{name}{count} ({worst_text})")
    return "; ".join(parts)
