"""Streamlit pieces the pages share: the context, the empty state, objective tiles."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import gate, queries
from dashboard.context import Context
from dashboard.format import budget, burn, duration, md_code, md_escape, percent

STATUS_BADGE = {
    "met": ("green", ":material/check_circle:"),
    "breached": ("red", ":material/error:"),
    "no data": ("gray", ":material/help:"),
}
STATUS_MARK = {"met": "✓ met", "breached": "✗ breached", "no data": "- no data"}


def context() -> Context:
    """The settings the process was started with, once the visitor may see them.

    Every page starts with this: it is ``gate.require_access`` (bind address
    and login), which stops the page when either is not satisfied.
    """
    return gate.require_access()


def require_data(ctx: Context) -> bool:
    """Draw the "no data yet" or "cannot read the store" state; True when there is data."""
    status = queries.store_status(ctx.url)
    if status.state == "ready":
        return True
    if status.state == "unreachable":
        st.error(
            f"**Cannot read the results store** {md_code(ctx.safe_url)}  \n"
            f"{md_escape(status.detail)}",
            icon=":material/database:",
        )
        return False
    st.info(
        "**No data yet** — start probes with `slawatch up` (or `slawatch run` against your own "
        f"target); results appear here as soon as the first round is stored.  \n"
        f"Store: {md_code(ctx.safe_url)} ({md_escape(status.detail)})",
        icon=":material/hourglass_empty:",
    )
    return False


def tile_headline(name: str, status: str) -> str:
    """The first line of an objective's tile: a coloured status badge and the name."""
    colour, icon = STATUS_BADGE.get(status, ("gray", ":material/help:"))
    return f":{colour}-badge[{icon} {status}] **{md_escape(name)}**"


def objective_tile(row: pd.Series) -> None:
    """One objective: met / breached / no data, its value, budget, burn rate and alert."""
    with st.container(border=True):
        st.markdown(tile_headline(str(row["name"]), str(row["status"])))
        window = duration(float(row["window_s"]))
        threshold = f", {row['threshold']}" if row["threshold"] else ""
        value = percent(row["value"]) if row["valid"] else "no samples"
        st.markdown(
            f"**{md_escape(value)}** good of {int(row['valid']):,} · objective "
            f"{row['objective']:g} % over {window}{md_escape(threshold)}"
        )
        st.caption(f"budget left {budget(row['budget_left'])} · burn rate {burn(row['burn_rate'])}")
        if row["alert"] == "firing":
            st.markdown(
                f":red[:material/notifications_active: **alert firing** — "
                f"{md_escape(row['alert_short'])}]",
                help=str(row["alert_text"]),
            )
        else:
            st.caption(md_escape(row["alert_short"]))


def table_height(frame: pd.DataFrame) -> int:
    """Pixels for a table that shows every row without scrolling (header + rows + border)."""
    return 35 * (len(frame) + 1) + 3


def objectives_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Objectives as a readable table (text cells, so ∞ and "no data" read right)."""
    if frame.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "objective": frame["name"],
            "status": frame["status"].map(STATUS_MARK),
            "compliance": frame["value"].map(percent),
            "target": frame["objective"].map(lambda v: f"{v:g} %"),
            "threshold": frame["threshold"],
            "error budget left": frame["budget_left"].map(budget),
            "burn rate": frame["burn_rate"].map(burn),
            "coverage": frame["coverage"].map(lambda c: percent(100.0 * c, 1)),
            "good / valid": [
                f"{g:,} / {v:,}" for g, v in zip(frame["good"], frame["valid"], strict=True)
            ],
            "burn-rate alerts": frame["alert_text"],
        }
    )


def locations_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Each objective per location (``chartdata.locations.location_frame``) as text cells."""
    if frame.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "objective": frame["name"],
            "location": frame["location"],
            "status": frame["status"].map(STATUS_MARK),
            "compliance": frame["value"].map(percent),
            "good / valid": [
                f"{g:,} / {v:,}" for g, v in zip(frame["good"], frame["valid"], strict=True)
            ],
            "coverage": frame["coverage"].map(lambda c: percent(100.0 * c, 1)),
        }
    )


def cells(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` for ``st.dataframe``: a missing text reads "—", never a literal None."""
    text = [c for c in frame.columns if frame[c].dtype == object]
    if not text:
        return frame
    return frame.assign(**{c: frame[c].map(lambda v: "—" if _missing(v) else v) for c in text})


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)
