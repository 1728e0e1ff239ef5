"""The chart-input layer: stored records in, typed rows and DataFrames out. No Streamlit.

Both the pages (through the caches of ``dashboard.queries``) and the reports
(``dashboard.report``) shape their data here, so they agree on:

- ``policy``: one bucket policy (``bucket_for``) and one threshold picker
  (``objective_for``, ``thresholds``) that respects the probe filter;
- ``rows``: typed rows of the store's aggregates (the only place that knows their keys);
- ``frames``: one set of column names for what ``dashboard.figures`` draws;
- ``series``: a range's rows and frames as one value (what a report charts);
- ``objectives``, ``rounds``, ``status``: the tiles and tables of the pages.
"""

from dashboard.chartdata.policy import (
    BUCKETS_S,
    MAX_POINTS,
    Thresholds,
    bucket_for,
    bucket_text,
    objective_for,
    thresholds,
)
from dashboard.chartdata.series import Frames, Series, read_series, series_frames

__all__ = [
    "BUCKETS_S",
    "MAX_POINTS",
    "Frames",
    "Series",
    "Thresholds",
    "bucket_for",
    "bucket_text",
    "objective_for",
    "read_series",
    "series_frames",
    "thresholds",
]
