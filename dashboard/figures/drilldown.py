"""Plotly figures of one round: the per-user event timeline and the target's memory.

Pure functions like ``dashboard.figures.trends`` (no Streamlit): the live drill-down
draws them, and a report may.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboard.figures.trends import (
    BAD_COLOUR,
    OK_COLOUR,
    PERCENTILE_COLOURS,
    base_figure,
    is_missing,
    no_data,
    threshold_line,
)
from dashboard.format import close_code_label, plot_text

EVENT_SYMBOLS = {
    "agent_started": "circle",
    "agent_thinking": "diamond",
    "tool_executing": "triangle-right",
    "tool_completed": "triangle-left",
    "agent_completed": "star",
}
# Event marks in calm colours: red is kept for what went wrong.
EVENT_COLOURS = {
    "agent_started": "#1565c0",
    "agent_thinking": "#5e35b1",
    "tool_executing": "#00838f",
    "tool_completed": "#2e7d32",
    "agent_completed": "#1b5e20",
}


def round_timeline(events: pd.DataFrame, sessions: pd.DataFrame) -> go.Figure:
    """One row per user, a mark per event at its ms since connect, then how it closed.

    ``events``: ``user_id``, ``type``, ``ms``, ``foreign``. ``sessions``:
    ``user_id``, ``outcome``, ``reason``, ``close_code``, ``http_status``,
    ``connect_ms``, ``missing_events`` (text). Failing users come first, marked ✗.
    """
    rows = max(len(sessions), 1)
    fig = base_figure("Events per user", "", x_title="ms since connect", height=120 + 34 * rows)
    if sessions.empty:
        return no_data(fig, "this round has no sessions")
    ordered = sessions.assign(_ok=sessions["outcome"] == "ok").sort_values(["_ok", "user_id"])
    label = {
        u: f"{'✓' if ok else '✗'} {plot_text(u)}"
        for u, ok in zip(ordered["user_id"], ordered["_ok"], strict=True)
    }
    spans_x: list[float | None] = []
    spans_y: list[str | None] = []
    for s in ordered.itertuples(index=False):
        spans_x += [0.0, _end_ms(s, events), None]
        spans_y += [label[s.user_id], label[s.user_id], None]
    fig.add_trace(
        go.Scatter(
            x=spans_x,
            y=spans_y,
            mode="lines",
            line={"color": "#bdbdbd", "width": 1},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    own = events[~events["foreign"].astype(bool)] if not events.empty else events
    for kind, part in own.groupby("type", sort=False):
        fig.add_trace(
            go.Scatter(
                x=part["ms"],
                y=[label.get(u, plot_text(u)) for u in part["user_id"]],
                mode="markers",
                name=plot_text(kind),
                marker={
                    "symbol": EVENT_SYMBOLS.get(str(kind), "square"),
                    "size": 11,
                    "color": EVENT_COLOURS.get(str(kind), "#616161"),
                },
                hovertemplate=f"{plot_text(kind)} at %{{x:.0f}} ms<extra>%{{y}}</extra>",
            )
        )
    foreign = events[events["foreign"].astype(bool)] if not events.empty else events
    if not foreign.empty:
        fig.add_trace(
            go.Scatter(
                x=foreign["ms"],
                y=[label.get(u, plot_text(u)) for u in foreign["user_id"]],
                mode="markers",
                name="another user's event",
                marker={"symbol": "x", "size": 12, "color": BAD_COLOUR},
                hovertemplate="another user's event at %{x:.0f} ms<extra>%{y}</extra>",
            )
        )
    _close_marks(fig, ordered, events, label)
    fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(label.values())))
    fig.update_xaxes(rangemode="tozero")
    return fig


def _end_ms(session: Any, events: pd.DataFrame) -> float:
    """Where a user's row ends: its last event, else its connect (ms since connect start)."""
    mine = events[events["user_id"] == session.user_id] if not events.empty else events
    if not mine.empty:
        return float(mine["ms"].max())
    connect = session.connect_ms
    return 0.0 if is_missing(connect) else float(connect)


def _close_text(session: Any) -> str:
    code, http = session.close_code, session.http_status
    if is_missing(code):
        text = f"refused (HTTP {int(http)})" if not is_missing(http) else "no close"
    else:
        text = f"close {close_code_label(code)}"
    missing = session.missing_events or ""
    if missing:
        text += f" · missing {missing}"
    return plot_text(text)


def _close_marks(
    fig: go.Figure, ordered: pd.DataFrame, events: pd.DataFrame, label: Mapping[str, str]
) -> None:
    xs, ys, texts, colours = [], [], [], []
    for s in ordered.itertuples(index=False):
        xs.append(_end_ms(s, events))
        ys.append(label[str(s.user_id)])
        texts.append(_close_text(s))
        normal = not is_missing(s.close_code) and s.close_code == 1000
        colours.append(OK_COLOUR if normal and s.outcome == "ok" else BAD_COLOUR)
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers+text",
            name="closed",
            text=texts,
            textposition="middle right",
            textfont={"color": colours, "size": 11},
            marker={"symbol": "line-ns", "size": 16, "line": {"width": 3, "color": colours}},
            hovertemplate="%{text} at %{x:.0f} ms<extra>%{y}</extra>",
        )
    )
    # room on the right for the close text
    widest = max(xs) if xs else 0.0
    fig.update_xaxes(range=[0, max(widest * 1.45, 100.0)])


def round_memory_chart(
    samples: pd.DataFrame, *, started_at: datetime, threshold_mb: float | None = None
) -> go.Figure:
    """The target's memory through one round; ``samples``: ``at``, ``rss_mb``.

    The limit line is the first sample plus the growth objective's threshold.
    """
    fig = base_figure(
        "Target memory through the round", "RSS (MB)", x_title="s since round start", height=300
    )
    if samples.empty:
        return no_data(fig, "no memory samples for this round (memory sampling off?)")
    seconds = (
        pd.to_datetime(samples["at"], utc=True) - pd.Timestamp(started_at)
    ).dt.total_seconds()
    fig.add_trace(
        go.Scatter(
            x=seconds,
            y=samples["rss_mb"],
            mode="lines+markers",
            name="RSS",
            line={"color": PERCENTILE_COLOURS["p50"]},
            marker={"size": 4},
            hovertemplate="%{y:.1f} MB at %{x:.2f} s<extra></extra>",
        )
    )
    if threshold_mb is not None:
        baseline = float(samples["rss_mb"].iloc[0])
        threshold_line(fig, baseline + threshold_mb, f"baseline + {threshold_mb:g} MB (objective)")
    return fig
