"""Plotly figures of a time range: DataFrames and thresholds in, a figure out.

Pure functions with no Streamlit import, so the compliance reports draw the
same charts. Every time axis is UTC. Text from probes, targets or people goes
through ``plot_text`` because plotly labels understand a subset of HTML.

The DataFrame each function takes is described in its docstring; the
columns are the ones ``dashboard.chartdata.frames`` names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboard.chartdata import gaps
from dashboard.format import close_code_label, plot_text

OK_COLOUR = "#2e7d32"
BAD_COLOUR = "#c62828"
WARN_COLOUR = "#ef6c00"
THRESHOLD_COLOUR = "#c62828"
PERCENTILE_COLOURS = {"p50": "#1565c0", "p95": "#ef6c00", "p99": "#6a1b9a"}
CLOSE_CODE_COLOURS = {
    "1000 normal": "#2e7d32",
    "1001 going away": "#9e9d24",
    "1006 dropped": "#ef6c00",
    "1008 policy": "#6a1b9a",
    "1009 too big": "#00838f",
    "1011 internal error": "#c62828",
    "1012 restart": "#5d4037",
    "none (refused)": "#424242",
}
NORMAL_LABEL = "1000 normal"
ANNOTATION_COLOURS = {"deploy": "#1565c0", "incident": "#c62828", "maintenance": "#9e9e9e"}
TIME_AXIS = "time (UTC)"


def base_figure(
    title: str, y_title: str, *, x_title: str = TIME_AXIS, height: int = 360
) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        title={"text": plot_text(title)},
        height=height,
        margin={"l": 60, "r": 20, "t": 40, "b": 90},
        # below the axis title, so a long legend never runs into the chart's title
        legend={
            "orientation": "h",
            "yanchor": "top",
            "y": -0.3,
            "xanchor": "left",
            "x": 0,
        },
        xaxis_title=x_title,
        yaxis_title=y_title,
        hovermode="x unified" if x_title == TIME_AXIS else "closest",
    )
    return fig


def no_data(fig: go.Figure, message: str = "no data in this range") -> go.Figure:
    fig.add_annotation(
        text=message,
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        showarrow=False,
        font={"size": 14, "color": "#757575"},
    )
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    return fig


def threshold_line(fig: go.Figure, value: float | None, label: str) -> None:
    """A dashed horizontal line at the objective's threshold, labelled on the right."""
    if value is None:
        return
    line = {
        "type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": value,
        "y1": value, "line": {"color": THRESHOLD_COLOUR, "dash": "dash", "width": 1.5},
    }  # fmt: skip
    text = {
        "text": plot_text(label), "xref": "paper", "x": 1, "xanchor": "right", "yref": "y",
        "y": value, "yanchor": "bottom", "showarrow": False, "font": {"color": THRESHOLD_COLOUR},
    }  # fmt: skip
    fig.update_layout(
        shapes=[*fig.layout.shapes, line], annotations=[*fig.layout.annotations, text]
    )


def annotate(
    fig: go.Figure,
    annotations: pd.DataFrame | None,
    *,
    until: datetime | None = None,
    since: datetime | None = None,
) -> go.Figure:
    """Draw deploy/incident markers (vertical lines) and maintenance windows (bands).

    ``annotations``: columns ``kind``, ``start``, ``end`` (NaT = still open,
    drawn to ``until``) and ``text``. With ``since`` and ``until`` the time
    axis shows exactly that range, so a gap in the data shows as a gap.
    """
    if since is not None and until is not None:
        fig.update_xaxes(range=[since, until])
    if annotations is None or annotations.empty:
        return fig
    shapes: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    for note in annotations.itertuples(index=False):
        colour = ANNOTATION_COLOURS.get(str(note.kind), "#616161")
        text = f"{note.kind}: {note.text}"
        end = until if is_missing(note.end) else note.end
        where: dict[str, Any] = {"xref": "x", "yref": "paper", "x0": note.start, "y0": 0, "y1": 1}
        if note.kind == "maintenance" and end is not None:
            shapes.append(
                {**where, "type": "rect", "x1": end, "fillcolor": colour, "opacity": 0.18,
                 "line": {"width": 0}, "layer": "below"}
            )  # fmt: skip
        else:
            shapes.append(
                {**where, "type": "line", "x1": note.start,
                 "line": {"color": colour, "width": 1.5, "dash": "dot"}}
            )  # fmt: skip
        labels.append(
            {"x": note.start, "xref": "x", "y": 1, "yref": "paper", "showarrow": False,
             "text": plot_text(text[:60]), "hovertext": plot_text(text), "xanchor": "left",
             "yanchor": "top", "font": {"size": 10, "color": colour}}
        )  # fmt: skip
    fig.update_layout(
        shapes=[*fig.layout.shapes, *shapes], annotations=[*fig.layout.annotations, *labels]
    )
    return fig


NO_DATA_COLOUR = "#bdbdbd"


def shade_gaps(
    fig: go.Figure, times: Any, since: datetime | None, until: datetime | None
) -> go.Figure:
    """Grey hatched bands where the series has no point (``gaps.gap_spans``), labelled."""
    spans = gaps.gap_spans(list(times), since, until)
    shapes = [
        {"type": "rect", "xref": "x", "yref": "paper", "x0": a, "x1": b, "y0": 0, "y1": 1,
         "fillcolor": NO_DATA_COLOUR, "opacity": 0.25, "line": {"width": 0}, "layer": "below"}
        for a, b in spans
    ]  # fmt: skip
    labels = [
        {"x": a, "xref": "x", "y": 0, "yref": "paper", "text": "no data", "showarrow": False,
         "xanchor": "left", "yanchor": "bottom", "font": {"size": 10, "color": "#616161"}}
        for a, _ in spans
    ]  # fmt: skip
    fig.update_layout(
        shapes=[*fig.layout.shapes, *shapes], annotations=[*fig.layout.annotations, *labels]
    )
    return fig


def latency_chart(
    df: pd.DataFrame,
    *,
    title: str,
    threshold_ms: float | None = None,
    annotations: pd.DataFrame | None = None,
    until: datetime | None = None,
    since: datetime | None = None,
) -> go.Figure:
    """p50/p95/p99 latency over time; ``df``: ``start``, ``p50``, ``p95``, ``p99`` (ms)."""
    fig = base_figure(title, "ms")
    if df.empty:
        return no_data(fig)
    shade_gaps(fig, df["start"], since, until)
    df = gaps.broken(df, "start")  # lines stop where nothing was measured
    for column, colour in PERCENTILE_COLOURS.items():
        if column in df:
            fig.add_trace(
                go.Scatter(
                    x=df["start"],
                    y=df[column],
                    name=column,
                    mode="lines+markers",
                    line={"color": colour, "width": 1.5},
                    marker={"size": 4},
                )
            )
    threshold_line(fig, threshold_ms, f"objective {threshold_ms:g} ms" if threshold_ms else "")
    return annotate(fig, annotations, until=until, since=since)


def memory_rounds_chart(
    df: pd.DataFrame,
    *,
    threshold_mb: float | None = None,
    annotations: pd.DataFrame | None = None,
    until: datetime | None = None,
    since: datetime | None = None,
    per_round: bool = True,
) -> go.Figure:
    """The target's memory growth per round; ``df``: ``started_at``, ``growth_mb``, ``peak_mb``.

    With ``per_round`` False each point is the worst round of a time bucket.
    Points above the threshold are drawn red. Peak memory is on the hover.
    """
    title = (
        "Target memory growth per round"
        if per_round
        else "Target memory growth (worst round per bucket)"
    )
    fig = base_figure(title, "growth (MB)")
    data = df.dropna(subset=["growth_mb"]) if not df.empty else df
    if data.empty:
        return no_data(fig, "no memory samples in this range")
    shade_gaps(fig, data["started_at"], since, until)
    limit = float("inf") if threshold_mb is None else threshold_mb
    colours = [BAD_COLOUR if g > limit else OK_COLOUR for g in data["growth_mb"]]
    fig.add_trace(
        go.Scatter(
            x=data["started_at"],
            y=data["growth_mb"],
            name="growth",
            mode="markers",
            marker={"color": colours, "size": 6},
            customdata=data[["peak_mb"]] if "peak_mb" in data else None,
            hovertemplate="growth %{y:.1f} MB<br>peak %{customdata[0]:.1f} MB<extra></extra>"
            if "peak_mb" in data
            else "growth %{y:.1f} MB<extra></extra>",
        )
    )
    threshold_line(fig, threshold_mb, f"objective {threshold_mb:g} MB" if threshold_mb else "")
    return annotate(fig, annotations, until=until, since=since)


def close_codes_chart(
    df: pd.DataFrame,
    *,
    annotations: pd.DataFrame | None = None,
    until: datetime | None = None,
    since: datetime | None = None,
    bucket_s: float | None = None,
) -> go.Figure:
    """Sessions by close code over time, stacked; ``df``: ``start``, ``close_code``, ``count``.

    ``close_code`` is NA for sessions with no WebSocket at all (refused handshakes).
    With ``bucket_s`` each bar spans its bucket, ``[start, start + bucket_s)``.
    """
    fig = base_figure("Close codes", "sessions")
    if df.empty:
        return no_data(fig)
    shade_gaps(fig, sorted(set(df["start"])), since, until)
    labels = df["close_code"].map(close_code_label)
    frame = df.assign(label=labels).groupby(["start", "label"], as_index=False)["count"].sum()
    # abnormal closes at the bottom of each bar, where a thin band is still seen
    present = set(frame["label"])
    order = [name for name in CLOSE_CODE_COLOURS if name in present and name != NORMAL_LABEL]
    order += sorted(present - set(CLOSE_CODE_COLOURS))
    order += [NORMAL_LABEL] if NORMAL_LABEL in present else []
    for label in order:
        part = frame[frame["label"] == label]
        fig.add_trace(
            go.Bar(
                x=part["start"],
                y=part["count"],
                name=label,
                marker={"color": CLOSE_CODE_COLOURS.get(label, "#757575")},
                width=None if bucket_s is None else bucket_s * 1000 * 0.95,
                offset=None if bucket_s is None else 0,
            )
        )
    fig.update_layout(barmode="stack", bargap=0.05)
    return annotate(fig, annotations, until=until, since=since)


def completeness_chart(
    df: pd.DataFrame,
    *,
    objective: float | None = None,
    annotations: pd.DataFrame | None = None,
    until: datetime | None = None,
    since: datetime | None = None,
) -> go.Figure:
    """Share of sessions with a complete event stream; ``df``: ``start``, ``good``, ``valid``."""
    fig = base_figure("Event completeness", "% of sessions complete")
    data = df[df["valid"] > 0] if not df.empty else df
    if data.empty:
        return no_data(fig)
    shade_gaps(fig, data["start"], since, until)
    data = gaps.broken(data, "start")
    rate = 100.0 * data["good"] / data["valid"]
    fig.add_trace(
        go.Scatter(
            x=data["start"],
            y=rate,
            name="complete",
            mode="lines+markers",
            line={"color": PERCENTILE_COLOURS["p50"], "width": 1.5},
            marker={"size": 4},
            customdata=data[["good", "valid"]],
            hovertemplate="%{y:.2f} % (%{customdata[0]} of %{customdata[1]})<extra></extra>",
        )
    )
    threshold_line(fig, objective, f"objective {objective:g} %" if objective is not None else "")
    fig.update_yaxes(rangemode="normal")
    return annotate(fig, annotations, until=until, since=since)


def db_timings_chart(
    df: pd.DataFrame,
    *,
    thresholds: Mapping[str, float],
    annotations: pd.DataFrame | None = None,
    until: datetime | None = None,
    since: datetime | None = None,
) -> go.Figure:
    """p95 of each DB operation over time; ``df``: ``start``, ``operation``, ``p95``.

    ``thresholds`` maps operation -> ms; one dashed line per distinct value.
    """
    fig = base_figure("Database operations (p95)", "ms")
    if df.empty:
        return no_data(fig)
    shade_gaps(fig, sorted(set(df["start"])), since, until)
    for operation, raw in df.groupby("operation", sort=True):
        part = gaps.broken(raw, "start")
        fig.add_trace(
            go.Scatter(
                x=part["start"],
                y=part["p95"],
                name=plot_text(operation),
                mode="lines+markers",
                marker={"size": 4},
                line={"width": 1.5},
            )
        )
    by_value: dict[float, list[str]] = {}
    for operation, value in thresholds.items():
        by_value.setdefault(value, []).append(operation)
    for value, operations in sorted(by_value.items()):
        which = "all operations" if len(operations) == len(thresholds) else ", ".join(operations)
        threshold_line(fig, value, f"objective {value:g} ms ({which})")
    return annotate(fig, annotations, until=until, since=since)


def budget_chart(df: pd.DataFrame) -> go.Figure:
    """Error budget left per objective; ``df``: ``name``, ``budget_left`` (1.0 = untouched)."""
    fig = base_figure("Error budget left", "", x_title="% of budget left", height=60 + 28 * len(df))
    data = df.dropna(subset=["budget_left"]) if not df.empty else df
    if data.empty:
        return no_data(fig, "no objective has data in this range")
    left = (100.0 * data["budget_left"]).clip(lower=-100.0)
    colours = [BAD_COLOUR if v < 0 else WARN_COLOUR if v < 25 else OK_COLOUR for v in left]
    fig.add_trace(
        go.Bar(
            x=left,
            y=[plot_text(n) for n in data["name"]],
            orientation="h",
            marker={"color": colours},
            hovertemplate="%{y}: %{x:.1f} %<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(range=[-100, 100])
    return fig


def is_missing(value: Any) -> bool:
    """None, NaN, NaT or NA: pandas writes a missing value in any of these."""
    return value is None or bool(pd.isna(value))
