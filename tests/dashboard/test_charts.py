"""The figure builders and the wording: pure functions, no Streamlit, hostile text kept inert."""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboard.figures import drilldown, trends
from dashboard.format import budget, burn, close_code_label, md_code, md_escape, percent

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
HOSTILE = "<img src=x onerror=alert(1)> [click](http://evil.example) **bold**"


def times(n: int) -> list[datetime]:
    return [T0 + timedelta(minutes=i) for i in range(n)]


def notes(*rows: tuple[str, datetime, datetime | None, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["kind", "start", "end", "text"])
    frame["start"] = pd.to_datetime(frame["start"], utc=True)
    frame["end"] = pd.to_datetime(frame["end"], utc=True)
    return frame


def shapes(fig: go.Figure) -> list[dict[str, object]]:
    return [s.to_plotly_json() for s in fig.layout.shapes]


def texts(fig: go.Figure) -> list[str]:
    return [str(a.text) for a in fig.layout.annotations]


def test_charts_module_imports_no_streamlit() -> None:
    modules = "dashboard.figures.trends, dashboard.figures.drilldown, dashboard.format"
    code = f"import sys, {modules}; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_latency_chart_draws_percentiles_and_the_objective_threshold() -> None:
    df = pd.DataFrame(
        {"start": times(3), "p50": [10, 11, 12], "p95": [20, 21, 22], "p99": [30, 31, 600]}
    )
    fig = trends.latency_chart(df, title="First event latency", threshold_ms=500)
    assert [t.name for t in fig.data] == ["p50", "p95", "p99"]
    (line,) = shapes(fig)
    assert (line["y0"], line["y1"]) == (500, 500)
    assert "objective 500 ms" in texts(fig)


def test_time_charts_carry_deploy_markers_and_maintenance_bands_with_escaped_text() -> None:
    df = pd.DataFrame({"start": times(60), "good": [9] * 60, "valid": [10] * 60})
    marks = notes(
        ("deploy", T0 + timedelta(minutes=10), None, HOSTILE),
        ("maintenance", T0 + timedelta(minutes=20), T0 + timedelta(minutes=30), "drill"),
        ("maintenance", T0 + timedelta(minutes=50), None, "still open"),
    )
    until = T0 + timedelta(hours=1)
    fig = trends.completeness_chart(df, objective=99.9, annotations=marks, until=until)
    drawn = shapes(fig)
    kinds = [s["type"] for s in drawn]
    assert kinds.count("rect") == 2 and kinds.count("line") == 2  # threshold + deploy
    open_band = next(s for s in drawn if s["type"] == "rect" and s["x1"] == until)
    assert open_band["x0"] == pd.Timestamp(T0 + timedelta(minutes=50))
    labels = "".join(texts(fig))
    assert "<img" not in labels and "&lt;img" in labels


def test_close_codes_are_stacked_by_name_and_refusals_are_none() -> None:
    df = pd.DataFrame(
        {
            "start": [T0, T0, T0, T0 + timedelta(minutes=1)],
            "close_code": pd.array([1000, 1011, None, 1000], dtype="Int64"),
            "count": [8, 1, 1, 10],
        }
    )
    fig = trends.close_codes_chart(df)
    assert fig.layout.barmode == "stack"
    # abnormal closes at the bottom of the stack, "1000 normal" on top
    assert [t.name for t in fig.data] == ["1011 internal error", "none (refused)", "1000 normal"]
    assert list(fig.data[-1].y) == [8, 10]


def test_memory_rounds_over_the_threshold_are_red() -> None:
    df = pd.DataFrame(
        {"started_at": times(3), "growth_mb": [1.0, 60.0, 2.0], "peak_mb": [80.0, 140.0, 81.0]}
    )
    fig = trends.memory_rounds_chart(df, threshold_mb=50)
    assert list(fig.data[0].marker.color) == [trends.OK_COLOUR, trends.BAD_COLOUR, trends.OK_COLOUR]
    assert "objective 50 MB" in texts(fig)


def test_db_timings_draw_one_threshold_line_for_operations_sharing_it() -> None:
    operations = ["thread_create"] * 2 + ["data_retrieval"] * 2
    df = pd.DataFrame(
        {"start": times(2) * 2, "operation": operations, "p95": [5.0, 6.0, 7.0, 80.0]}
    )
    fig = trends.db_timings_chart(df, thresholds={"thread_create": 50.0, "data_retrieval": 50.0})
    assert sorted(t.name for t in fig.data) == ["data_retrieval", "thread_create"]
    assert texts(fig) == ["objective 50 ms (all operations)"]


@pytest.mark.parametrize(
    "build",
    [
        lambda e: trends.latency_chart(e, title="x", threshold_ms=500),
        lambda e: trends.close_codes_chart(e),
        lambda e: trends.db_timings_chart(e, thresholds={}),
    ],
)
def test_an_empty_range_says_so_instead_of_blank_axes(build: object) -> None:
    empty = pd.DataFrame(columns=["start", "p50", "p95", "p99", "close_code", "count", "operation"])
    fig = build(empty)  # type: ignore[operator]
    assert "no data in this range" in texts(fig)


def test_round_timeline_puts_failing_users_first_with_their_close_code_and_missing_events() -> None:
    events = pd.DataFrame(
        [
            ("u-ok", "agent_started", 50.0, False),
            ("u-ok", "agent_completed", 400.0, False),
            ("u-bad", "agent_started", 60.0, False),
            ("u-bad", "agent_started", 70.0, True),
        ],
        columns=["user_id", "type", "ms", "foreign"],
    )
    sessions = pd.DataFrame(
        [
            ("u-ok", "ok", None, 1000, None, 410.0, ""),
            ("u-bad", "failed", "closed_abnormally", 1011, None, 120.0, "agent_completed"),
            ("u-refused", "failed", "refused", None, 401, 5.0, "agent_started, agent_completed"),
        ],
        columns=[
            "user_id",
            "outcome",
            "reason",
            "close_code",
            "http_status",
            "connect_ms",
            "missing_events",
        ],
    )
    fig = drilldown.round_timeline(events, sessions)
    rows = list(fig.layout.yaxis.categoryarray)
    assert rows[::-1] == ["✗ u-bad", "✗ u-refused", "✓ u-ok"]  # top row first
    closed = next(t for t in fig.data if t.name == "closed")
    assert list(closed.text) == [
        "close 1011 internal error · missing agent_completed",
        "refused (HTTP 401) · missing agent_started, agent_completed",
        "close 1000 normal",
    ]
    foreign = next(t for t in fig.data if t.name == "another user's event")
    assert list(foreign.x) == [70.0]


def test_round_memory_chart_draws_baseline_plus_threshold() -> None:
    samples = pd.DataFrame(
        {"at": [T0 + timedelta(seconds=s) for s in (0, 1, 2)], "rss_mb": [100.0, 120.0, 110.0]}
    )
    fig = drilldown.round_memory_chart(samples, started_at=T0, threshold_mb=50)
    assert list(fig.data[0].x) == [0.0, 1.0, 2.0]
    (line,) = shapes(fig)
    assert line["y0"] == 150.0


@pytest.mark.parametrize(
    ("code", "label"),
    [
        (1000, "1000 normal"),
        (1001, "1001 going away"),
        (1006, "1006 dropped"),
        (1008, "1008 policy"),
        (1009, "1009 too big"),
        (1011, "1011 internal error"),
        (1012, "1012 restart"),
        (4000, "4000 other"),
        (None, "none (refused)"),
        (math.nan, "none (refused)"),
        (pd.NA, "none (refused)"),
        (1011.0, "1011 internal error"),
    ],
)
def test_close_code_labels(code: object, label: str) -> None:
    assert close_code_label(code) == label


def test_md_escape_leaves_no_link_image_or_emphasis() -> None:
    escaped = md_escape(HOSTILE + "\n# heading")
    assert "](" not in escaped and "**" not in escaped
    assert "\n" not in escaped
    assert "\\[click\\]\\(http\\:" in escaped


@pytest.mark.parametrize(
    ("text", "code"),
    [("ws://h:1/ws", "`ws://h:1/ws`"), ("a`b", "``a`b``"), ("`x`", "`` `x` ``")],
)
def test_md_code_shows_text_verbatim(text: str, code: str) -> None:
    assert md_code(text) == code


@pytest.mark.parametrize(
    ("value", "text"),
    [(99.95, "99.95 %"), (99.899999, "99.89 %"), (100.0, "100.00 %"), (None, "—"), (math.nan, "—")],
)
def test_percent_rounds_down_so_a_breach_never_reads_as_met(value: float | None, text: str) -> None:
    assert percent(value) == text


@pytest.mark.parametrize(
    ("left", "rate", "budget_text", "burn_text"),
    [
        (1.0, 0.0, "100.0 %", "0.00x"),
        (0.25, 0.75, "25.0 %", "0.75x"),
        (-999.0, 1000.0, "exhausted", "1,000.00x"),
        (-math.inf, math.inf, "exhausted (no bad event allowed)", "∞"),
        (None, None, "—", "—"),
    ],
)
def test_budget_and_burn_wording(
    left: float | None, rate: float | None, budget_text: str, burn_text: str
) -> None:
    assert budget(left) == budget_text
    assert burn(rate) == burn_text
