"""The plain records a probe produces.

A probe returns these frozen values; storing them (``probes.results``) and
judging them against objectives (``probes.judging.slo``) are separate steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, get_args

Outcome = Literal["ok", "failed"]
RoundStatus = Literal["passed", "failed", "error", "skipped"]
# How a session presented its credential (a profile's auth modes, PROFILES.md).
AuthMode = Literal["header", "subprotocol", "query", "message", "none"]

# The closed set of reasons a session can fail for, most fundamental first:
# when several apply, the first one in this order is recorded.
Reason = Literal[
    "refused",  # the handshake was answered with an HTTP status, not an upgrade
    "connect_error",  # no TCP/WebSocket connection (refused port, DNS, reset)
    "timeout",  # connect or the run did not finish within the session timeout
    "planned_close",  # closed 1001 (going away) or 1012 (service restart): on purpose
    "closed_abnormally",  # close code other than 1000 (1006 when no close frame)
    "isolation_breach",  # an event of another user, thread or run arrived
    "incomplete",  # an expected event never arrived
    "out_of_order",  # events arrived, but not in the protocol's order / seq gaps
    "protocol_error",  # the server sent something that is not protocol JSON
]
REASONS: tuple[str, ...] = get_args(Reason)

DB_OPERATIONS: tuple[str, ...] = (
    "thread_create",
    "message_batch",
    "result_store",
    "data_retrieval",
)

NORMAL_CLOSE = 1000
ABNORMAL_CLOSE = 1006
INTERNAL_ERROR_CLOSE = 1011
# A server that goes away (1001) or restarts (1012) closes its sessions on purpose:
# ``planned_close``, outside session_success's error budget unless counted.
PLANNED_CLOSES = (1001, 1012)


@dataclass(frozen=True, slots=True)
class Event:
    """One server message as the client saw it.

    ``ms`` is client time since the session started connecting;
    ``server_ts`` is the server's ``ts`` (Unix epoch ms) when it sent one.
    """

    type: str
    ms: float
    seq: int | None = None
    server_ts: float | None = None
    foreign: bool = False


@dataclass(frozen=True, slots=True)
class SessionResult:
    """One user's session: what was sent, what came back, and the verdict."""

    run_id: str
    probe: str
    target: str
    runner: str
    user_id: str
    auth_mode: AuthMode
    started_at: datetime
    connect_ms: float | None = None
    first_event_ms: float | None = None  # chat sent -> first event
    completion_ms: float | None = None  # chat sent -> agent_completed
    # PROFILES.md's name for completion latency: chat sent -> the first done that passes
    # done_ok (None without one); always equal to completion_ms.
    total_ms: float | None = None
    close_code: int | None = None  # received; 1006 when no close frame
    close_reason: str = ""
    sent_close_code: int | None = None
    http_status: int | None = None  # on a refused handshake
    events: tuple[Event, ...] = ()
    missing_events: tuple[str, ...] = ()
    order_ok: bool = True
    seq_gaps: int = 0
    foreign_events: int = 0
    agent_run_id: str | None = None
    db_ms: dict[str, float] = field(default_factory=dict)
    outcome: Outcome = "failed"
    reason: Reason | None = None
    error: str = ""
    profile: str = "agent-chat-v1"  # the protocol profile the session spoke (PROFILES.md)

    @property
    def complete(self) -> bool:
        """The protocol's "complete": every expected event, in order, ``seq`` without gaps."""
        return bool(self.events) and not self.missing_events and self.order_ok and not self.seq_gaps


@dataclass(frozen=True, slots=True)
class AuthCheck:
    """One deliberate bad-token handshake: it must be refused with 401, never 1011."""

    http_status: int | None
    close_code: int | None
    ok: bool
    error: str = ""


@dataclass(frozen=True, slots=True)
class DbTiming:
    """One database round trip: client round-trip ms and the server's own ``db_ms``."""

    operation: str
    client_ms: float | None
    server_ms: float | None
    ok: bool
    error: str = ""


@dataclass(frozen=True, slots=True)
class MemorySample:
    """The target's resident memory at one moment of a round."""

    at: datetime
    rss_mb: float


@dataclass(frozen=True, slots=True)
class RoundResult:
    """N sessions at once plus the auth, database and memory checks of one round."""

    run_id: str
    probe: str
    target: str
    runner: str
    started_at: datetime
    finished_at: datetime
    status: RoundStatus
    reason: str = ""  # why a round was skipped or errored; empty otherwise
    sessions: tuple[SessionResult, ...] = ()
    auth_check: AuthCheck | None = None
    db_timings: tuple[DbTiming, ...] = ()
    memory_samples: tuple[MemorySample, ...] = ()
    memory_source: str = ""  # "healthz", "psutil" or "" when unknown
    profile: str = "agent-chat-v1"  # the protocol profile the probe spoke (PROFILES.md)

    @property
    def memory_baseline_mb(self) -> float | None:
        return self.memory_samples[0].rss_mb if self.memory_samples else None

    @property
    def memory_peak_mb(self) -> float | None:
        return max(s.rss_mb for s in self.memory_samples) if self.memory_samples else None

    @property
    def memory_after_mb(self) -> float | None:
        return self.memory_samples[-1].rss_mb if self.memory_samples else None

    @property
    def memory_growth_mb(self) -> float | None:
        """After minus baseline; None without at least two samples."""
        if len(self.memory_samples) < 2:
            return None
        return self.memory_samples[-1].rss_mb - self.memory_samples[0].rss_mb

    @property
    def failed_sessions(self) -> tuple[SessionResult, ...]:
        return tuple(s for s in self.sessions if s.outcome != "ok")


UNREACHABLE = "target unreachable"


def unreachable(sessions: tuple[SessionResult, ...]) -> str:
    """Why no session reached the target (``target unreachable: ...``), or "" if one did.

    Every session failed with ``connect_error`` (no TCP/WebSocket connection, no
    HTTP status): the round could not run, so it is an ``error`` round whose
    checks are no data rather than breaches (``docs/decisions.md``, issue 13).
    """
    if not sessions or any(s.reason != "connect_error" for s in sessions):
        return ""
    detail = sessions[0].error.removeprefix("connect_error: ")
    return f"{UNREACHABLE}: {detail}"


def round_status(
    sessions: tuple[SessionResult, ...],
    auth_check: AuthCheck | None,
    db_timings: tuple[DbTiming, ...],
) -> RoundStatus:
    """A round passes only when every session, the auth check and every DB step passed."""
    if not sessions:
        return "error"
    if any(s.outcome != "ok" for s in sessions):
        return "failed"
    if auth_check is not None and not auth_check.ok:
        return "failed"
    if any(not t.ok for t in db_timings):
        return "failed"
    return "passed"


@dataclass(frozen=True, slots=True)
class Filters:
    """Which records a query or an evaluation looks at; None means all."""

    target: str | None = None
    probe: str | None = None
    runner: str | None = None
    run_ids: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class SliBucket:
    """Good and valid event counts of one SLI in one time bucket [start, start + width)."""

    start: datetime
    good: int
    valid: int


# One SLI's buckets per runner label (location): what one grouped read of the store gives.
RunnerBuckets = dict[str, list[SliBucket]]


def pooled_buckets(per_runner: RunnerBuckets) -> list[SliBucket]:
    """Every runner's buckets summed per start, oldest first: the count over all locations
    (each event was measured by one runner)."""
    good: dict[datetime, int] = {}
    valid: dict[datetime, int] = {}
    for buckets in per_runner.values():
        for b in buckets:
            good[b.start] = good.get(b.start, 0) + b.good
            valid[b.start] = valid.get(b.start, 0) + b.valid
    return [SliBucket(start, good[start], valid[start]) for start in sorted(valid)]


@dataclass(frozen=True, slots=True)
class Annotation:
    """A deploy marker, incident note or maintenance window (excluded from SLO maths)."""

    kind: Literal["deploy", "incident", "maintenance"]
    start: datetime
    end: datetime | None
    text: str
    target: str | None = None
    id: int | None = None


RunnerState = Literal["running", "stalled", "stopped"]


@dataclass(frozen=True, slots=True)
class RunnerBeat:
    """One runner process's heartbeat: what it schedules and whether it still records.

    ``state`` is the runner's own word ("stalled": alive but storing no rounds);
    ``down`` is what a reader concludes when the beats stop coming.
    """

    instance: str
    runner: str
    host: str
    pid: int
    ha: bool
    probes: tuple[tuple[str, float], ...]  # (probe name, every_s)
    beat_every_s: float
    started_at: datetime
    beat_at: datetime
    last_stored_at: datetime | None = None
    state: RunnerState = "running"
    stalls: int = 0
    last_stall_at: datetime | None = None
    detail: str = ""

    def down(self, now: datetime) -> bool:
        """Stopped, or no beat for three beat intervals."""
        late = now - self.beat_at > timedelta(seconds=3 * self.beat_every_s)
        return self.state == "stopped" or late
