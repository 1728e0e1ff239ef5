"""Every objective judged over one window, one row each, for the tiles and the tables.

The judging is ``probes.judging.evaluation.evaluate_window`` (the gate's and the
reports' answer); this only lays its results out in the columns of ``COLUMNS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from dashboard.format import alert_summary
from probes.config import Settings, SloSettings
from probes.judging.evaluation import Evaluation, evaluate_window
from probes.records import Filters
from probes.results import ResultStore

COLUMNS = [
    "name", "sli", "objective", "status", "value", "good", "valid", "budget_left", "burn_rate",
    "coverage", "alert", "alert_short", "alert_text", "window_s", "threshold", "excluded_buckets",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Objectives:
    """Every objective over one window (one row each, ``COLUMNS``) and the overall verdict."""

    frame: pd.DataFrame
    verdict: str
    reason: str
    rounds: dict[str, int]


def judge(
    store: ResultStore,
    settings: Settings,
    since: datetime,
    until: datetime,
    filters: Filters,
    slo_windows: bool = False,
) -> Objectives:
    """Judge every objective over ``[since, until)``, or over its own window ending at ``until``."""
    evaluation = evaluate_window(
        store, settings, since=since, until=until, filters=filters, slo_windows=slo_windows
    )
    return laid_out(evaluation, settings, slo_windows)


def laid_out(evaluation: Evaluation, settings: Settings, slo_windows: bool = False) -> Objectives:
    """An evaluation's results in the rows of ``COLUMNS``."""
    by_name = {s.name: s for s in settings.slos}
    span_s = (evaluation.until - evaluation.since).total_seconds()
    rows = []
    for r in evaluation.results:
        slo = by_name[r.name]
        alert, alert_short, alert_text = alert_summary(r.alerts)
        window_s = slo.window_s if slo_windows else span_s
        rows.append(
            (
                r.name, r.sli, r.objective, r.status, r.value, r.good, r.valid, r.budget_left,
                r.burn_rate, r.coverage, alert, alert_short, alert_text, window_s,
                threshold_text(slo), r.excluded_buckets,
            )
        )  # fmt: skip
    return Objectives(
        frame=pd.DataFrame(rows, columns=COLUMNS) if rows else pd.DataFrame(),
        verdict=evaluation.verdict,
        reason=evaluation.reason,
        rounds=dict(evaluation.rounds),
    )


def threshold_text(slo: SloSettings) -> str:
    """``≤ 500 ms``, ``≤ 5 ms (thread_create)`` or ``≤ 50 MB growth``; empty without one."""
    if slo.threshold_ms is not None and slo.operation:
        return f"{slo.threshold_text} ({slo.operation})"
    if slo.threshold_mb is not None:
        return f"{slo.threshold_text} growth"
    return slo.threshold_text
