"""Charts break their lines at gaps and shade the time nothing was measured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from dashboard.chartdata import gaps
from dashboard.figures import trends

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def _minutes(*offsets: int) -> list[datetime]:
    return [T0 + n * MIN for n in offsets]


def test_a_22_minute_hole_is_one_gap_and_the_edges_count() -> None:
    points = _minutes(0, 1, 2, 3, 25, 26, 27)
    assert gaps.gap_spans(points, T0, T0 + 28 * MIN) == [(T0 + 4 * MIN, T0 + 25 * MIN)]
    assert gaps.gap_spans(points, T0 - 10 * MIN, T0 + 40 * MIN) == [
        (T0 - 10 * MIN, T0),
        (T0 + 4 * MIN, T0 + 25 * MIN),
        (T0 + 28 * MIN, T0 + 40 * MIN),
    ]
    assert gaps.gap_spans([], T0, T0 + MIN) == [(T0, T0 + MIN)]


def test_a_line_stops_at_a_gap_instead_of_joining_across_it() -> None:
    frame = pd.DataFrame({"start": _minutes(0, 1, 2, 25, 26), "p50": [1.0] * 5})
    out = gaps.broken(frame, "start")
    assert len(out) == 6 and out["p50"].isna().sum() == 1
    assert out.loc[out["p50"].isna(), "start"].iloc[0] == pd.Timestamp(T0 + 3 * MIN)


def test_the_latency_chart_shades_no_data_and_breaks_its_lines() -> None:
    frame = pd.DataFrame(
        {
            "start": _minutes(0, 1, 2, 25, 26),
            "p50": [10.0] * 5,
            "p95": [20.0] * 5,
            "p99": [30.0] * 5,
        }
    )
    fig = trends.latency_chart(frame, title="t", since=T0, until=T0 + 27 * MIN)
    bands = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(bands) == 1 and pd.Timestamp(bands[0].x1) == pd.Timestamp(T0 + 25 * MIN)
    assert any(a.text == "no data" for a in fig.layout.annotations)
    assert all(pd.isna(trace.y).sum() == 1 for trace in fig.data)  # one break per line
