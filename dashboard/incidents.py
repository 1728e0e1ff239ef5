"""The Live page's incidents section: what is open now and what resolved lately, with times.

A module of its own (the Live page calls ``section``), cached like the page's
other live reads.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import queries
from dashboard.chartdata.incidents import incidents_frame
from dashboard.context import Context

WINDOW = timedelta(days=7)
COLUMNS: dict[str, Any] = {
    "opened_at": st.column_config.DatetimeColumn("opened (UTC)", format="YYYY-MM-DD HH:mm:ss"),
    "resolved_at": st.column_config.DatetimeColumn("resolved (UTC)", format="YYYY-MM-DD HH:mm:ss"),
    "opened_by": "opened by",
    "summary": st.column_config.TextColumn("summary", width="large"),
    "incident_id": "incident",
}


@st.cache_data(ttl=queries.LIVE_TTL_S, max_entries=8, show_spinner=False)
def _incidents(url: str, since: datetime, until: datetime) -> pd.DataFrame:
    return incidents_frame(queries.store(url), since, until)


def section(ctx: Context) -> None:
    """Open incidents, then those resolved in the last 7 days."""
    if queries.store_status(ctx.url).state != "ready":
        return  # the status part above says why there is nothing to show
    until = queries.window_end(queries.LIVE_TTL_S)
    st.subheader("Incidents, last 7 days")
    frame = _incidents(ctx.url, until - WINDOW, until)
    if frame.empty:
        st.caption("No incident in the last 7 days.")
        return
    still_open = int((frame["state"] == "open").sum())
    if still_open:
        st.error(f"**{still_open} incident(s) open**", icon=":material/notifications_active:")
    st.dataframe(frame, hide_index=True, column_config=COLUMNS)
