"""The report's charts as PNG images drawn by matplotlib, for the PDF (no browser).

Uses ``matplotlib.figure.Figure`` with the Agg canvas directly: no pyplot, so
no global figure state, safe inside the Streamlit server's threads. Only our
own titles and labels are drawn (annotation texts are listed in the report,
not on the charts), so no probe text reaches matplotlib's mathtext parser.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import UTC, datetime

import matplotlib.dates as mdates
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from dashboard.chartdata import Frames, bucket_text, gaps
from dashboard.figures.trends import (
    ANNOTATION_COLOURS,
    BAD_COLOUR,
    CLOSE_CODE_COLOURS,
    OK_COLOUR,
    PERCENTILE_COLOURS,
    THRESHOLD_COLOUR,
)
from dashboard.format import close_code_label

WIDTH_IN = 7.5
HEIGHT_IN = 2.6
DPI = 120
# Fixed margins (fractions of the figure): a layout engine costs more than the drawing.
MARGINS = {"left": 0.08, "right": 0.965, "top": 0.86, "bottom": 0.19}


def _days(values: Iterable[object]) -> list[float]:
    """Times as matplotlib's date numbers (days since its epoch), UTC."""
    return [float(mdates.date2num(pd.Timestamp(v).to_pydatetime())) for v in values]  # type: ignore[arg-type]


def _day(moment: datetime) -> float:
    return float(mdates.date2num(moment))


def _axes(title: str, y_label: str, f: Frames) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    fig.subplots_adjust(**MARGINS)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_ylabel(y_label, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, color="#e0e0e0", linewidth=0.6)
    ax.set_xlim(_day(f.since), _day(f.until))
    locator = mdates.AutoDateLocator(tz=UTC)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
    ax.set_xlabel("time (UTC)", fontsize=8)
    return fig, ax


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _empty(ax: Axes, message: str = "no data in this window") -> None:
    ax.text(
        0.5,
        0.5,
        message,
        transform=ax.transAxes,
        ha="center",
        va="center",
        color="#757575",
        fontsize=10,
    )
    ax.set_yticks([])


def _threshold(ax: Axes, value: float | None, label: str) -> None:
    if value is None:
        return
    ax.axhline(value, color=THRESHOLD_COLOUR, linestyle="--", linewidth=1.2, label=label)


def _annotate(ax: Axes, f: Frames) -> None:
    for note in f.notes:
        colour = ANNOTATION_COLOURS.get(note.kind, "#616161")
        if note.kind == "maintenance":
            end = f.until if note.end is None else note.end
            ax.axvspan(_day(note.start), _day(end), color=colour, alpha=0.18, linewidth=0)
        else:
            ax.axvline(_day(note.start), color=colour, linestyle=":", linewidth=1.2)


def _shade_gaps(ax: Axes, f: Frames, times: Iterable[object]) -> None:
    """Grey bands where the series has no point (``gaps.gap_spans``): time nothing measured."""
    for n, (a, b) in enumerate(gaps.gap_spans(list(times), f.since, f.until)):
        ax.axvspan(_day(a), _day(b), color="#bdbdbd", alpha=0.3, linewidth=0,
                   label="no data" if n == 0 else None)  # fmt: skip


def _legend(ax: Axes) -> None:
    """Above the plot, right of the title, so it never hides a point."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(
            fontsize=7,
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            ncols=5,
            frameon=False,
            borderaxespad=0.2,
        )


def latency_png(f: Frames, df: pd.DataFrame, title: str, threshold: float | None) -> bytes:
    fig, ax = _axes(title, "ms", f)
    if df.empty:
        _empty(ax)
    else:
        _shade_gaps(ax, f, df["start"])
        df = gaps.broken(df, "start")  # a line stops where nothing was measured
        x = _days(df["start"])
        for column, colour in PERCENTILE_COLOURS.items():
            ax.plot(
                x,
                df[column],
                color=colour,
                linewidth=1.2,
                marker="o",
                markersize=2,
                label=column,
            )
        _threshold(ax, threshold, f"objective {threshold:g} ms" if threshold else "")
        ax.set_ylim(bottom=0)
    _annotate(ax, f)
    _legend(ax)
    return _png(fig)


def memory_png(f: Frames) -> bytes:
    title = (
        "Target memory growth per round"
        if f.memory_per_round
        else f"Target memory growth (worst round {bucket_text(f.bucket_s)})"
    )
    fig, ax = _axes(title, "growth (MB)", f)
    data = f.memory.dropna(subset=["growth_mb"])
    if data.empty:
        _empty(ax, "no memory samples in this window")
    else:
        line = f.thresholds.memory_mb
        limit = float("inf") if line is None else line
        colours = [BAD_COLOUR if g > limit else OK_COLOUR for g in data["growth_mb"]]
        _shade_gaps(ax, f, data["started_at"])
        ax.scatter(_days(data["started_at"]), data["growth_mb"], c=colours, s=8)
        _threshold(
            ax,
            f.thresholds.memory_mb,
            f"objective {f.thresholds.memory_mb:g} MB" if f.thresholds.memory_mb else "",
        )
        ax.set_ylim(bottom=min(0.0, float(data["growth_mb"].min()) * 1.1))
    _annotate(ax, f)
    _legend(ax)
    return _png(fig)


def close_codes_png(f: Frames) -> bytes:
    fig, ax = _axes("Close codes (sessions per bucket)", "sessions", f)
    if f.close_codes.empty:
        _empty(ax)
    else:
        _shade_gaps(ax, f, sorted(set(f.close_codes["start"])))
        labels = f.close_codes["close_code"].map(close_code_label)
        frame = f.close_codes.assign(label=labels).pivot_table(
            index="start", columns="label", values="count", aggfunc="sum", fill_value=0
        )
        order = [n for n in CLOSE_CODE_COLOURS if n in frame.columns]
        order += sorted(set(frame.columns) - set(order))
        x = _days(pd.Series(frame.index))
        width = f.bucket_s * 0.9 / 86400  # in days, matplotlib's date unit
        bottom = [0.0] * len(frame)
        for label in order:
            heights = [float(v) for v in frame[label]]
            ax.bar(
                x,
                heights,
                width=width,
                bottom=bottom,
                align="edge",
                label=label,
                color=CLOSE_CODE_COLOURS.get(label, "#757575"),
            )
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    _annotate(ax, f)
    _legend(ax)
    return _png(fig)


def completeness_png(f: Frames) -> bytes:
    fig, ax = _axes("Event completeness", "% of sessions complete", f)
    data = f.completeness[f.completeness["valid"] > 0]
    if data.empty:
        _empty(ax)
    else:
        _shade_gaps(ax, f, data["start"])
        rate = [100.0 * g / v for g, v in zip(data["good"], data["valid"], strict=True)]
        # markers only: a line would invent values for the buckets in between
        ax.plot(
            _days(data["start"]),
            rate,
            color=PERCENTILE_COLOURS["p50"],
            linestyle="none",
            marker="o",
            markersize=3,
            label="complete",
        )
        objective = f.thresholds.completeness
        _threshold(ax, objective, f"objective {objective:g} %" if objective is not None else "")
        low = min([*rate, objective if objective is not None else 100.0])
        ax.set_ylim(max(0.0, low - 5.0), 102.0)
    _annotate(ax, f)
    _legend(ax)
    return _png(fig)


def chart_pngs(f: Frames) -> list[tuple[str, bytes]]:
    """(title, PNG bytes) of every chart, in the order the HTML draws them."""
    return [
        (
            "First event latency",
            latency_png(f, f.first_event, "First event latency", f.thresholds.first_event_ms),
        ),
        (
            "Completion latency",
            latency_png(f, f.completion, "Completion latency", f.thresholds.completion_ms),
        ),
        ("Memory growth", memory_png(f)),
        ("Close codes", close_codes_png(f)),
        ("Event completeness", completeness_png(f)),
    ]
