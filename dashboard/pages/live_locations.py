"""The Live page's locations section: a location x probe grid and the runners down."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from dashboard import queries
from dashboard.chartdata.locations import DOWN, NO_DATA
from dashboard.context import Context
from dashboard.format import md_escape

MARKS = {"passed": "✅ passed", "failed": "❌ failed", "error": "⚠️ error",
         "skipped": "⏭ skipped", NO_DATA: "— no data", DOWN: "🛑 down"}  # fmt: skip


def section(ctx: Context, until: datetime) -> None:
    """Where each probe stands at each location now; runners down named on top."""
    grid, runners = queries.locations(ctx.url, ctx.settings, until)
    st.subheader("Locations")
    down = sorted(set(runners[runners["state"] == DOWN]["runner"])) if not runners.empty else []
    stalled = (
        sorted(set(runners[runners["state"] == "stalled"]["runner"])) if not runners.empty else []
    )
    alive = set(runners[runners["state"] != DOWN]["runner"]) if not runners.empty else set()
    dead = [label for label in down if label not in alive]
    if dead:
        names = ", ".join(md_escape(n) for n in dead)
        st.error(f"**Runner down:** {names}: its slots count as no data.", icon=":material/error:")
    if stalled:
        names = ", ".join(md_escape(n) for n in stalled)
        st.warning(f"**Runner stalled (stores no rounds):** {names}", icon=":material/warning:")
    if grid.empty:
        st.info("No location has stored a round yet.")
        return
    st.dataframe(grid.map(lambda cell: MARKS.get(cell, cell)))
    if not runners.empty:
        with st.expander("Runner processes"):
            st.dataframe(_runner_table(runners), hide_index=True)


def _runner_table(runners: pd.DataFrame) -> pd.DataFrame:
    return runners.sort_values(["runner", "started_at"])
