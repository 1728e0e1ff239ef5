"""The report's charts as plotly figures, drawn from ``dashboard.chartdata`` frames.

The same frames feed the matplotlib charts of the PDF (``dashboard.report.plots``),
so the HTML, the PDF and the Stability page draw the same figures with the same
objective lines (``chartdata.thresholds`` under the report's probe filter).
"""

from __future__ import annotations

import plotly.graph_objects as go

from dashboard import chartdata
from dashboard.chartdata import Frames
from dashboard.figures import trends
from dashboard.report.model import Report


def frames(report: Report) -> Frames:
    """The report's series as DataFrames, with the objective lines of its probe filter."""
    return chartdata.series_frames(
        report.series,
        report.annotations,
        chartdata.thresholds(report.settings, report.filters.probe),
        report.main.since,
        report.main.until,
    )


def figures(report: Report) -> list[go.Figure]:
    """Latency (first event, completion), memory, close codes and completeness, in that order."""
    f = frames(report)
    lines, notes, until = f.thresholds, f.annotations, f.until
    every = chartdata.bucket_text(f.bucket_s)
    figs = [
        trends.latency_chart(
            f.first_event,
            title=f"First event latency ({every})",
            threshold_ms=lines.first_event_ms,
            annotations=notes,
            until=until,
            since=f.since,
        ),
        trends.latency_chart(
            f.completion,
            title=f"Completion latency ({every})",
            threshold_ms=lines.completion_ms,
            annotations=notes,
            until=until,
            since=f.since,
        ),
        trends.memory_rounds_chart(
            f.memory,
            threshold_mb=lines.memory_mb,
            annotations=notes,
            until=until,
            since=f.since,
            per_round=f.memory_per_round,
        ),
        trends.close_codes_chart(f.close_codes, annotations=notes, until=until, since=f.since),
        trends.completeness_chart(
            f.completeness,
            objective=lines.completeness,
            annotations=notes,
            until=until,
            since=f.since,
        ),
    ]
    for fig in figs:
        fig.update_xaxes(range=[f.since, f.until])
    return figs
