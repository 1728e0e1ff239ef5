"""Plain-text tables for the terminal: the rounds a probe ran and the objectives."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from statistics import median

from probes.judging.evaluation import Evaluation
from probes.judging.slo import SloResult
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


MAX_CELL = 90


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


def _reasons(result: RoundResult) -> str:
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
    text = "; ".join(parts) or "-"
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 3] + "..."


def rounds_table(rounds: Sequence[RoundResult]) -> str:
    """One line per round: status, sessions, latency medians, memory growth, reasons."""
    rows = []
    for r in rounds:
        first = [s.first_event_ms for s in r.sessions if s.first_event_ms is not None]
        done = [s.completion_ms for s in r.sessions if s.completion_ms is not None]
        ok = len(r.sessions) - len(r.failed_sessions)
        rows.append(
            [
                r.run_id[:8],
                r.started_at.strftime("%H:%M:%S"),
                r.status,
                f"{ok}/{len(r.sessions)}",
                _ms(median(first) if first else None),
                _ms(median(done) if done else None),
                _mb(r.memory_growth_mb),
                _reasons(r),
            ]
        )
    header = [
        "round",
        "started",
        "status",
        "ok",
        "first ms p50",
        "done ms p50",
        "mem MB",
        "failures",
    ]
    return render(header, rows)


def _value(result: SloResult) -> str:
    return "-" if result.value is None else f"{result.value:.2f}%"


def _budget(result: SloResult) -> str:
    if result.budget_left is None:
        return "-"
    if result.budget_left < 0:
        if result.burn_rate == float("inf"):
            return "exhausted (none allowed)"
        return f"exhausted ({result.burn_rate or 0:.0f}x burn)"
    return f"{result.budget_left * 100:.0f}%"


def objectives_table(evaluation: Evaluation) -> str:
    """One line per objective: value against objective, status, budget, samples, coverage."""
    rows = [
        [
            r.name,
            _value(r),
            f"{r.objective:g}%",
            r.status,
            _budget(r),
            str(r.valid),
            f"{r.coverage * 100:.0f}%",
        ]
        for r in evaluation.results
    ]
    header = ["objective", "value", "target", "status", "budget left", "samples", "coverage"]
    return render(header, rows)
