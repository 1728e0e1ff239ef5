"""Where a time series has no data: the spans to shade and the breaks in its lines.

A chart must never draw a line across time nothing was measured in (a
22-minute outage drawn as a straight line at 100 %). The series' own spacing
says what "next point" means: the usual step is the median distance between
consecutive points (the bucket width, or the probe interval when that is
longer); a distance of more than ``GAP_FACTOR`` steps is a gap. The range's
edges count too: before the first point and after the last. No Streamlit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from statistics import median

import pandas as pd

GAP_FACTOR = 2.0
Span = tuple[datetime, datetime]


def _times(values: Sequence[object]) -> list[datetime]:
    return sorted(pd.Timestamp(v).to_pydatetime() for v in values)  # type: ignore[arg-type]


def step_of(times: Sequence[datetime]) -> timedelta | None:
    """The usual distance between consecutive points (None with fewer than two)."""
    diffs = [(b - a).total_seconds() for a, b in pairwise(times) if b > a]
    return timedelta(seconds=median(diffs)) if diffs else None


def gap_spans(
    values: Sequence[object],
    since: datetime | None,
    until: datetime | None,
    step: timedelta | None = None,
) -> list[Span]:
    """The spans of ``[since, until)`` without a point for more than ``GAP_FACTOR`` steps."""
    times = _times(values)
    step = step or step_of(times)
    if since is None or until is None:
        return []
    if not times:
        return [(since, until)]
    if step is None:
        step = timedelta(minutes=1)
    allowed = step * GAP_FACTOR
    spans: list[Span] = []
    if times[0] - since > allowed:
        spans.append((since, times[0]))
    for a, b in pairwise(times):
        if b - a > allowed:
            spans.append((a + step, b))
    if until - (times[-1] + step) > allowed:
        spans.append((times[-1] + step, until))
    return spans


def broken(df: pd.DataFrame, x: str, step: timedelta | None = None) -> pd.DataFrame:
    """``df`` sorted by ``x`` with an empty row inside each gap, so lines stop there."""
    if len(df) < 2:
        return df
    df = df.sort_values(x).reset_index(drop=True)
    times = _times(list(df[x]))
    step = step or step_of(times)
    if step is None:
        return df
    cuts = [a + step for a, b in pairwise(times) if b - a > step * GAP_FACTOR]
    if not cuts:
        return df
    blanks = pd.DataFrame({x: pd.to_datetime(cuts, utc=True)})
    both = pd.concat([df, blanks], ignore_index=True)
    both[x] = pd.to_datetime(both[x], utc=True)
    return both.sort_values(x).reset_index(drop=True)
