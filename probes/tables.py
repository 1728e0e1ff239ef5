"""Plain-text tables for the terminal: the rounds a probe ran and the objectives."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from statistics import median

from probes.config import SloSettings
from probes.judging import breaches
from probes.judging.evaluation import Evaluation
from probes.judging.texts import budget, percent
from probes.records import RoundResult

ROUND_FIELDS: tuple[str, ...] = (
    "run_id",
    "probe",
    "target",
    "runner",
    "started_at",
    "finished_at",
    "status",
    "reason",
    "sessions_total",
    "sessions_failed",
    "auth_ok",
    "memory_baseline_mb",
    "memory_peak_mb",
    "memory_after_mb",
    "memory_growth_mb",
)


def render(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}"


def _reasons(result: RoundResult, found: Sequence[breaches.Breach]) -> str:
    """Why the round failed, then the objectives it breached; never cut (the terminal wraps)."""
    counts = Counter(s.reason for s in result.failed_sessions if s.reason)
    parts = [f"{reason} x{n}" for reason, n in counts.most_common()]
    if result.auth_check is not None and not result.auth_check.ok:
        parts.append(f"bad token not refused ({result.auth_check.error})")
    failed_db = [t for t in result.db_timings if not t.ok]
    if failed_db:
        ops = ",".join(t.operation for t in failed_db)
        parts.append(f"db {ops}: {failed_db[0].error}")
    if result.reason:
        parts.append(result.reason)
    if found:
        parts.append("breaching " + breaches.summary(found))
    return "; ".join(parts) or "-"


def rounds_table(rounds: Sequence[RoundResult], slos: Sequence[SloSettings] = ()) -> str:
    """One line per round: state, sessions, latency medians, memory growth, reasons.

    The state is ``breaches.round_state``: a round that passed on the protocol but
    broke a threshold objective reads ``breaching``, and the objective is named.
    """
    rows = []
    for r in rounds:
        found = breaches.over_threshold(breaches.of_round(r, slos))
        first = [s.first_event_ms for s in r.sessions if s.first_event_ms is not None]
        done = [s.completion_ms for s in r.sessions if s.completion_ms is not None]
        ok = len(r.sessions) - len(r.failed_sessions)
        rows.append(
            [
                r.run_id[:8],
                r.started_at.strftime("%H:%M:%S"),
                breaches.round_state(r.status, found),
                f"{ok}/{len(r.sessions)}",
                _ms(median(first) if first else None),
                _ms(median(done) if done else None),
                _mb(r.memory_growth_mb),
                _reasons(r, found),
            ]
        )
    header = [
        "round",
        "started",
        "state",
        "ok",
        "first ms p50",
        "done ms p50",
        "mem MB",
        "failures",
    ]
    return render(header, rows)


def objectives_table(evaluation: Evaluation) -> str:
    """One line per objective: value against objective, status, budget, samples, coverage."""
    rows = [
        [
            r.name,
            percent(r.value),
            f"{r.objective:g} %",
            r.status,
            budget(r.budget_left),
            str(r.valid) if r.valid else "0 (no data)",
            percent(r.coverage * 100, 1),
        ]
        for r in evaluation.results
    ]
    header = ["objective", "value", "target", "status", "budget left", "samples", "coverage"]
    return render(header, rows)
