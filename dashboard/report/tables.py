"""The words and table rows every report format shares (Markdown, HTML, PDF, the page).

Cells are plain text; each renderer escapes for its own medium. The columns
holding text that came from a probe, a target or a person are named in the
``*_USER_TEXT`` sets, so the Markdown renderer knows which to make literal.
Wording follows the data only: "met", "breached", "no data" and the computed
verdict; nothing here says more than a figure shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime

from dashboard import format as fmt
from dashboard.report.failures import MAX_LISTED, FailureGroup
from dashboard.report.model import Period, Report
from probes.config import SloSettings
from probes.judging.evaluation import Evaluation
from probes.judging.slo import SloResult
from probes.records import Annotation

TITLE = "slawatch compliance report"
OBJECTIVE_HEADER = (
    "objective", "SLI", "value", "objective %", "status", "error budget left", "burn rate",
    "samples", "coverage",
)  # fmt: skip
COMPARISON_HEADER = ("objective", "figure", "before", "after", "change")
FAILURE_HEADER = ("started (UTC)", "round", "users", "close codes", "errors or figures")
FAILURE_USER_TEXT = frozenset({2, 4})
ANNOTATION_HEADER = ("kind", "from (UTC)", "to (UTC)", "target", "text")
PROBE_HEADER = ("probe", "target", "profile", "rounds")
PROBE_USER_TEXT = frozenset({0, 1, 2})  # names and URLs from the config
PROBES_HEADING = "Probes"
NO_PROBES_TEXT = "No round was recorded in this window."
ANNOTATION_USER_TEXT = frozenset({3, 4})
DIGEST_RECIPE = (
    "SHA-256 over the UTF-8 bytes of the sessions CSV followed by the rounds CSV, exactly as "
    "`slawatch report --format csv -o FILE.csv` writes them (FILE.csv, then FILE.rounds.csv): "
    "`cat FILE.csv FILE.rounds.csv | sha256sum`. Sessions are ordered by start time, then user; "
    "rounds by start time, then run id."
)
CHARTS_ELSEWHERE = (
    "Charts are drawn in the HTML and PDF formats; the figures behind them are in the JSON "
    "format under `series`."
)

SLI_GOOD: dict[str, str] = {
    "session_success": "a session that ended ok: closed 1000 with a complete event stream",
    "event_completeness": "a session whose expected events all arrived, in order",
    "no_internal_errors": "a session not closed with 1011",
    "isolation": "a session that received no event of another user",
    "first_event_latency": "a connected session whose first event came within {ms} ms",
    "completion_latency": "a connected session whose agent_completed came within {ms} ms",
    "memory_growth": "a round whose target memory grew at most {mb} MB",
    "db_latency": "a {op} operation that succeeded within {ms} ms",
    "auth_rejection": "a bad-token attempt refused with HTTP 401, never closed 1011",
}
SLI_VALID: dict[str, str] = {
    "session_success": "every session",
    "event_completeness": "every session",
    "no_internal_errors": "every session",
    "isolation": "every session",
    "first_event_latency": "every session that connected (no refused handshake)",
    "completion_latency": "every session that connected (no refused handshake)",
    "memory_growth": "every round with at least two memory samples",
    "db_latency": "every timed {op} operation",
    "auth_rejection": "every round that made a bad-token check",
}
METHODS: tuple[tuple[str, str], ...] = (
    (
        "Window",
        "Each objective is judged over the report's window [from, to), not over its "
        "configured window, with the error budget that window allows. A session counts in the "
        "window it started in, a round or DB timing in the window its round started in. Sessions "
        "of skipped or errored rounds are evidence but not SLI events.",
    ),
    (
        "SLI value",
        "100 * good events / valid events, computed exactly (no rounding before the "
        "comparison); shown rounded down, so a breached value never prints as its objective.",
    ),
    (
        "Status",
        "met when the bad share is at most 100 % minus the objective; breached otherwise; "
        "no data when the window holds no valid event.",
    ),
    (
        "Burn rate",
        "(bad events / valid events) / (1 - objective). 1x spends exactly the whole "
        "budget over the window; a 100 % objective with any bad event burns at ∞.",
    ),
    (
        "Error budget left",
        "1 - burn rate, as a share of the whole budget: 100 % untouched, "
        "0 % spent, negative overspent.",
    ),
    (
        "Coverage",
        "rounds with data (passed or failed) / rounds scheduled in the window "
        "(floor(window / probe interval), at least 1), at most 100 %; with several probes the "
        "least covered one counts.",
    ),
    (
        "Verdict",
        "FAIL when any objective is breached; PASS only when every objective is met "
        "with coverage at or above the configured minimum; otherwise INSUFFICIENT DATA.",
    ),
    (
        "Maintenance",
        "one-minute buckets overlapping a maintenance window are dropped before "
        "counting; the excluded buckets are counted per objective in the JSON format.",
    ),
    ("Percentiles", "latency p50/p95/p99 per chart bucket, nearest rank, computed by the store."),
    ("Digest", DIGEST_RECIPE),
)


def reason_line(report: Report) -> str:
    """Why the verdict is what it is: ``evaluate_window``'s reason, or plainly "no data"."""
    if report.empty:
        return "no data: no round or session was recorded in this window"
    return report.evaluation.reason


def headline(report: Report) -> str:
    """The one-line overall verdict, from ``evaluate_window``, never recomputed."""
    return f"Verdict: {report.evaluation.verdict} — {reason_line(report)}"


def window_text(since: datetime, until: datetime) -> str:
    return f"{fmt.utc(since)} to {fmt.utc(until)} ({fmt.duration((until - since).total_seconds())})"


def filters_text(report: Report) -> str:
    f = report.filters
    pairs = (("target", f.target), ("probe", f.probe), ("runner", f.runner))
    parts = [f"{name} = {value}" for name, value in pairs if value]
    return ", ".join(parts) or "none (every target, probe and runner)"


FAILURES_HEADING = "Failing and breaching rounds"


def no_failures_text(report: Report) -> str:
    """What the failures section says when it has no group (never a contradiction)."""
    if report.verdict == "FAIL":
        return (
            "No record is listed, yet an objective is breached: see the objectives above "
            "and the CSV evidence."
        )
    return (
        "No session failed or breached an objective, and no round failed, errored or was skipped."
    )


def rounds_text(period: Period) -> str:
    """``4 rounds (0 passed, 4 breaching, 0 failed, 0 error, 0 skipped); 20 sessions``.

    ``breaching``: passed on the protocol, yet over an objective's threshold
    (``probes.judging.breaches``); they are not also counted as passed.
    """
    counts = dict(period.evaluation.rounds)
    counts["passed"] = counts.get("passed", 0) - period.breaching
    counts["breaching"] = period.breaching
    total = sum(counts.values())
    states = ("passed", "breaching", "failed", "error", "skipped")
    detail = ", ".join(f"{counts.get(s, 0)} {s}" for s in states)
    rounds = "round" if total == 1 else "rounds"
    sessions = "session" if period.evidence.sessions == 1 else "sessions"
    return f"{total} {rounds} ({detail}); {period.evidence.sessions} {sessions}"


def sli_text(slo: SloSettings) -> str:
    """The SLI with its threshold: ``first_event_latency ≤ 500 ms``."""
    name = f"{slo.sli} {slo.operation}" if slo.operation else slo.sli
    return f"{name} {slo.threshold_text}" if slo.threshold_text else name


def good_text(slo: SloSettings) -> str:
    """What a good event and a valid event are for this objective, in words."""
    values = {
        "ms": f"{slo.threshold_ms:g}" if slo.threshold_ms is not None else "?",
        "mb": f"{slo.threshold_mb:g}" if slo.threshold_mb is not None else "?",
        "op": slo.operation or "DB",
    }
    good = SLI_GOOD[slo.sli].format(**values)
    valid = SLI_VALID[slo.sli].format(**values)
    scope = f" (probe {slo.probe} only)" if slo.probe else ""
    return f"good: {good}; valid: {valid}{scope}"


def objective_rows(evaluation: Evaluation, slos: Sequence[SloSettings]) -> list[list[str]]:
    by_name = {s.name: s for s in slos}
    rows = []
    for r in evaluation.results:
        slo = by_name.get(r.name)
        rows.append(
            [
                r.name,
                sli_text(slo) if slo else r.sli,
                fmt.percent(r.value),
                f"{r.objective:g} %",
                r.status,
                fmt.budget(r.budget_left),
                fmt.burn(r.burn_rate),
                str(r.valid),
                fmt.percent(r.coverage * 100, 1),
            ]
        )
    return rows


def _change(before: float | None, after: float | None, show: Callable[[float], str]) -> str:
    if before is None or after is None:
        return "—"
    delta = after - before
    if math.isnan(delta):
        return "—"
    if math.isinf(delta):
        return "+∞" if delta > 0 else "-∞"
    return show(delta)


def comparison(before: SloResult, after: SloResult) -> list[tuple[str, str, str, str]]:
    """(figure, before, after, change) for one objective in the baseline and the window."""
    return [
        (
            "status",
            before.status,
            after.status,
            "—" if before.status == after.status else f"{before.status} → {after.status}",
        ),
        (
            "value",
            fmt.percent(before.value),
            fmt.percent(after.value),
            _change(before.value, after.value, lambda d: f"{d:+.2f} pp"),
        ),
        (
            "error budget left",
            fmt.budget(before.budget_left),
            fmt.budget(after.budget_left),
            _change(before.budget_left, after.budget_left, lambda d: f"{d * 100:+.1f} pp"),
        ),
        (
            "burn rate",
            fmt.burn(before.burn_rate),
            fmt.burn(after.burn_rate),
            _change(before.burn_rate, after.burn_rate, lambda d: f"{d:+.2f}x"),
        ),
        ("samples", str(before.valid), str(after.valid), f"{after.valid - before.valid:+d}"),
        (
            "coverage",
            fmt.percent(before.coverage * 100, 1),
            fmt.percent(after.coverage * 100, 1),
            _change(before.coverage, after.coverage, lambda d: f"{d * 100:+.1f} pp"),
        ),
    ]


def comparison_rows(report: Report) -> list[list[str]]:
    """One row per objective and figure: before (baseline), after (window), change."""
    if report.baseline is None:
        return []
    before = {r.name: r for r in report.baseline.evaluation.results}
    rows = []
    for after in report.evaluation.results:
        if after.name not in before:
            continue
        for figure, b, a, change in comparison(before[after.name], after):
            rows.append([after.name, figure, b, a, change])
    return rows


def iso_utc(text: str) -> str:
    """An ISO 8601 time as stored (``...Z``) -> ``YYYY-MM-DD HH:MM:SS UTC``."""
    try:
        return fmt.utc(datetime.fromisoformat(text))
    except ValueError:
        return text


def group_title(group: FailureGroup) -> str:
    rounds = f"{group.rounds} round" + ("" if group.rounds == 1 else "s")
    if group.sessions:
        sessions = f"{group.sessions} session" + ("" if group.sessions == 1 else "s")
        return f"{group.reason}: {sessions} in {rounds}"
    return f"{group.reason}: {rounds}"


def group_note(group: FailureGroup) -> str:
    if group.rounds <= len(group.listed):
        return ""
    return (
        f"The first {MAX_LISTED} of {group.rounds} rounds are listed; every one is in the "
        "CSV evidence."
    )


def failure_rows(group: FailureGroup) -> list[list[str]]:
    return [
        [
            iso_utc(f.started_at),
            f.run_id[:12],
            ", ".join(f.users) or "—",
            ", ".join(fmt.close_code_label(c) for c in f.close_codes) or "—",
            " | ".join(f.errors) or "—",
        ]
        for f in group.listed
    ]


def annotation_rows(notes: Sequence[Annotation]) -> list[list[str]]:
    return [
        [
            n.kind,
            fmt.utc(n.start),
            "open" if n.end is None else fmt.utc(n.end),
            n.target or "every target",
            n.text,
        ]
        for n in notes
    ]


def excluded_text(evaluation: Evaluation) -> str:
    parts = [f"{r.name} {r.excluded_buckets}" for r in evaluation.results if r.excluded_buckets]
    if not parts:
        return "No bucket of the window was excluded for maintenance."
    return "One-minute buckets excluded for maintenance, per objective: " + ", ".join(parts) + "."


def definition_rows(slos: Sequence[SloSettings]) -> list[list[str]]:
    return [[s.name, sli_text(s), good_text(s)] for s in slos]


def fact_rows(report: Report) -> list[list[str]]:
    ev = report.main.evidence
    rows = [
        ["generated at", fmt.utc(report.generated_at)],
        ["slawatch version", report.version],
        ["config in force", report.settings.origin],
        [f"config digest (SHA-256 of {report.settings.digest_basis})", report.settings.digest],
        ["window", window_text(report.main.since, report.main.until)],
        ["filters", filters_text(report)],
        ["minimum coverage for PASS", f"{report.evaluation.min_coverage:g} %"],
        ["records", f"{ev.records} ({ev.sessions} sessions, {ev.rounds} rounds)"],
        ["sessions CSV SHA-256", ev.sessions_sha256],
        ["rounds CSV SHA-256", ev.rounds_sha256],
        ["digest of the records", ev.digest],
    ]
    if report.baseline is not None:
        b = report.baseline.evidence
        rows += [
            ["baseline window", window_text(report.baseline.since, report.baseline.until)],
            ["baseline records", f"{b.records} ({b.sessions} sessions, {b.rounds} rounds)"],
            ["digest of the baseline records", b.digest],
        ]
    return rows


def probe_rows(period: Period) -> list[list[str]]:
    """Each probe of the window beside its target and its protocol profile."""
    return [[p.probe, p.target, p.profile, str(p.rounds)] for p in period.probes]
