"""The report's chart data as DataFrames, and the figures ``dashboard.figures`` draws.

The same frames feed the matplotlib charts of the PDF (``report_plots``), so
the HTML, the PDF and the page draw the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go

from dashboard.figures import stability as charts
from dashboard.report.model import Report, first_slo
from probes.records import Annotation


@dataclass(frozen=True, slots=True)
class Frames:
    """Chart inputs in the shapes ``dashboard.figures.stability`` documents, plus thresholds."""

    first_event: pd.DataFrame  # start, p50, p95, p99 (ms)
    completion: pd.DataFrame  # start, p50, p95, p99 (ms)
    memory: pd.DataFrame  # started_at, growth_mb, peak_mb
    close_codes: pd.DataFrame  # start, close_code, count
    completeness: pd.DataFrame  # start, good, valid
    annotations: pd.DataFrame  # kind, start, end, text
    notes: tuple[Annotation, ...]  # the same annotations as records
    first_event_ms: float | None
    completion_ms: float | None
    memory_mb: float | None
    completeness_objective: float | None
    bucket_s: int
    since: datetime
    until: datetime


def _latency(rows: list[dict[str, object]], prefix: str) -> pd.DataFrame:
    data = [
        {"start": r["start"], **{p: r[f"{prefix}_{p}"] for p in ("p50", "p95", "p99")}}
        for r in rows
        if r.get(f"{prefix}_count")
    ]
    frame = pd.DataFrame(data, columns=["start", "p50", "p95", "p99"])
    return frame.astype({"p50": "float64", "p95": "float64", "p99": "float64"})


def frames(report: Report) -> Frames:
    """The report's series as DataFrames (empty ones keep their columns)."""
    s = report.series
    memory = pd.DataFrame(
        [
            {
                "started_at": r["started_at"],
                "growth_mb": r["memory_growth_mb"],
                "peak_mb": r["memory_peak_mb"],
            }
            for r in s.memory
        ],
        columns=["started_at", "growth_mb", "peak_mb"],
    ).astype({"growth_mb": "float64", "peak_mb": "float64"})
    codes = pd.DataFrame(s.close_codes, columns=["start", "close_code", "count"])
    complete = pd.DataFrame(s.completeness, columns=["start", "good", "valid"])
    notes = pd.DataFrame(
        [
            {"kind": a.kind, "start": a.start, "end": a.end, "text": a.text}
            for a in report.annotations
        ],
        columns=["kind", "start", "end", "text"],
    )
    first = first_slo(report.settings, "first_event_latency")
    done = first_slo(report.settings, "completion_latency")
    mem = first_slo(report.settings, "memory_growth")
    completeness = first_slo(report.settings, "event_completeness")
    return Frames(
        first_event=_latency(s.latency, "first_event"),
        completion=_latency(s.latency, "completion"),
        memory=memory,
        close_codes=codes,
        completeness=complete,
        annotations=notes,
        notes=report.annotations,
        first_event_ms=first.threshold_ms if first else None,
        completion_ms=done.threshold_ms if done else None,
        memory_mb=mem.threshold_mb if mem else None,
        completeness_objective=completeness.objective if completeness else None,
        bucket_s=s.bucket_s,
        since=report.main.since,
        until=report.main.until,
    )


def figures(report: Report) -> list[go.Figure]:
    """Latency (first event, completion), memory, close codes and completeness, in that order."""
    f = frames(report)
    notes, until = f.annotations, f.until
    every = f"per {f.bucket_s // 60} min" if f.bucket_s < 3600 else f"per {f.bucket_s // 3600} h"
    figs = [
        charts.latency_chart(
            f.first_event,
            title=f"First event latency ({every})",
            threshold_ms=f.first_event_ms,
            annotations=notes,
            until=until,
        ),
        charts.latency_chart(
            f.completion,
            title=f"Completion latency ({every})",
            threshold_ms=f.completion_ms,
            annotations=notes,
            until=until,
        ),
        charts.memory_rounds_chart(
            f.memory, threshold_mb=f.memory_mb, annotations=notes, until=until
        ),
        charts.close_codes_chart(f.close_codes, annotations=notes, until=until),
        charts.completeness_chart(
            f.completeness, objective=f.completeness_objective, annotations=notes, until=until
        ),
    ]
    for fig in figs:
        fig.update_xaxes(range=[f.since, f.until])
    return figs
