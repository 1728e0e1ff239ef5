"""A saved round -> one evaluation of its (probe, target, runner): the round and its alerts.

The alerts that count are the objectives' page-severity burn-rate alerts; ticket
alerts are for ``slawatch_slo_alert_firing{severity="ticket"}`` and Prometheus.

Only the round's own series is evaluated, so with several runners in one store
each runner judges (and notifies about) what it measured, and one fault opens
one incident per runner that sees it.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from probes.alerting.incidents import Evaluation, Subject
from probes.config import Settings
from probes.exposition.slo_series import SloSeries, objective_series
from probes.records import RoundResult
from probes.results import ResultStore


def round_summary(r: RoundResult) -> str:
    failed = r.failed_sessions
    reasons = Counter(s.reason or "unknown" for s in failed)
    why = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items())) or r.reason
    text = f"round {r.status}: {len(failed)} of {len(r.sessions)} sessions failed"
    return text + (f" ({why})" if why else "")


def evaluation(r: RoundResult, series: list[SloSeries]) -> Evaluation:
    """The round's evaluation, given the objectives' figures on its series."""
    figures: dict[str, Any] = {
        "run_id": r.run_id,
        "round_status": r.status,
        "sessions": len(r.sessions),
        "sessions_failed": len(r.failed_sessions),
    }
    firing = None
    summary = round_summary(r)
    severity = "page"
    for s in series:
        # Page alerts only: a ticket alert (3 days / 6 hours) stays firing for up to
        # 6 hours after a fault is fixed, and would hold its incident open (or open
        # a second one after it resolved) that long; it shows on /metrics instead.
        alerts = [a for a in s.result.alerts if a.state == "firing" and a.severity == "page"]
        if alerts and firing is None:
            worst = alerts[0]
            firing, severity = s.slo.name, worst.severity
            summary = (
                f"{s.slo.name}: burning {worst.long_burn:.1f}x its error budget "
                f"(alert {worst.factor:g}x over {worst.long_window_s / 3600:g}h); {summary}"
            )
            figures |= {
                "objective_percent": s.slo.objective,
                "good": s.result.good,
                "valid": s.result.valid,
                "budget_left": s.result.budget_left,
                "burn_rate": worst.long_burn,
            }
    failed = None if r.status == "skipped" else r.status in ("failed", "error")
    subject = Subject(r.probe, r.target, r.runner)
    return Evaluation(subject, failed, firing, summary, severity, figures)


def evaluate_round(
    store: ResultStore, settings: Settings, r: RoundResult, now: datetime
) -> list[Evaluation]:
    """The evaluation a saved round allows (the objectives read from the store)."""
    labels = (r.probe, r.target, r.runner)
    series = [s for s in objective_series(store, settings, now) if s.labels == labels]
    return [evaluation(r, series)]
