"""Live, for on-call: what is broken right now, for which user, and why.

The status part refreshes itself every ``[dashboard] refresh``; the round
drill-down below it only changes when someone picks another round, so it does
not jump while being read. ``?round=RUN_ID`` in the URL opens that round.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import chartdata, queries, ui
from dashboard.context import Context
from dashboard.figures import drilldown
from dashboard.format import md_code, md_escape, utc
from dashboard.pages import live_locations
from probes.records import Filters

ALL = Filters()
FAILURES_WINDOW = timedelta(hours=1)
TILES_PER_ROW = 4
LAST_JUDGED = "slawatch_live_objectives"  # this browser session's latest judgement
LONG_TIME = "YYYY-MM-DD HH:mm:ss"


def headline(obj: queries.Objectives) -> None:
    """One line on top: which objectives are breached, or that all are met."""
    frame = obj.frame
    if frame.empty:
        st.warning("No objectives are configured.")
        return
    breached = frame[frame["status"] == "breached"]["name"].tolist()
    firing = frame[frame["alert"] == "firing"]["name"].tolist()
    no_data = frame[frame["status"] == "no data"]["name"].tolist()
    total = len(frame)
    if breached:
        names = ", ".join(md_escape(n) for n in breached)
        st.error(
            f"**{len(breached)} of {total} objectives breached:** {names}", icon=":material/error:"
        )
    elif firing:
        st.warning(
            f"**Burn-rate alert firing:** {', '.join(md_escape(n) for n in firing)}",
            icon=":material/notifications_active:",
        )
    elif no_data:
        st.warning(
            f"**No data yet for** {', '.join(md_escape(n) for n in no_data)}",
            icon=":material/help:",
        )
    else:
        st.success(f"**All {total} objectives met.**", icon=":material/check_circle:")


def failing_sessions(ctx: Context, until: datetime) -> None:
    frame = queries.failing_sessions(ctx.url, until - FAILURES_WINDOW, until, ALL, limit=20)
    st.subheader("Failing sessions, last hour")
    if frame.empty:
        st.success("No failed session in the last hour.", icon=":material/check:")
        return
    st.dataframe(
        frame,
        hide_index=True,
        column_config={
            "started_at": st.column_config.DatetimeColumn("started (UTC)", format="HH:mm:ss"),
            "user_id": "user",
            "reason": "reason",
            "close": "close code",
            "missing_events": "missing events",
            "error": st.column_config.TextColumn("error", width="large"),
            "run_id": "round",
        },
    )


def tiles(obj: queries.Objectives) -> None:
    rows = list(obj.frame.iterrows())
    for start in range(0, len(rows), TILES_PER_ROW):
        columns = st.columns(TILES_PER_ROW)
        for column, (_, row) in zip(columns, rows[start : start + TILES_PER_ROW], strict=False):
            with column:
                ui.objective_tile(row)


def latest_rounds(ctx: Context, until: datetime) -> None:
    st.subheader("Latest rounds, failing first")
    frame = queries.latest_rounds(ctx.url, until, ALL)
    st.dataframe(
        frame,
        hide_index=True,
        column_order=[
            "started_at",
            "status",
            "failed",
            "failures",
            "probe",
            "target",
            "runner",
            "memory_growth_mb",
            "run_id",
        ],
        column_config={
            "started_at": st.column_config.DatetimeColumn("started (UTC)", format=LONG_TIME),
            "failed": "sessions failed",
            "failures": st.column_config.TextColumn("why", width="large"),
            "memory_growth_mb": st.column_config.NumberColumn("memory growth", format="%.1f MB"),
            "run_id": "round",
        },
    )


def status(ctx: Context) -> None:
    """The self-refreshing part: headline, failing sessions, objective tiles, latest rounds.

    Judging the objectives (each over its whole window) is the slow read, so the
    previous judgement of this browser session is shown at once and replaced
    when the new one is ready: the headline and tiles never go blank.
    """
    if not ui.require_data(ctx):
        return
    refresh = ctx.settings.dashboard.refresh_s
    until = queries.window_end(refresh)
    top = st.empty()
    st.caption(
        f"Updated {utc(datetime.now(UTC))}; refreshes every {refresh:g} s. Each objective is "
        "judged over its own window (the one in the config), at most a minute ago."
    )
    failing_sessions(ctx, until)
    live_locations.section(ctx, until)
    st.subheader("Objectives")
    tiles_slot = st.empty()
    previous: queries.Objectives | None = st.session_state.get(LAST_JUDGED)
    if previous is not None:
        show_judgement(top, tiles_slot, previous)
    latest_rounds(ctx, until)
    judged_until = queries.window_end(queries.STEP_S)
    since = judged_until - FAILURES_WINDOW
    if previous is None:
        with tiles_slot.container(), st.spinner("Judging every objective over its window ..."):
            obj = queries.objectives(
                ctx.url, ctx.settings, since, judged_until, ALL, slo_windows=True
            )
    else:
        obj = queries.objectives(ctx.url, ctx.settings, since, judged_until, ALL, slo_windows=True)
    st.session_state[LAST_JUDGED] = obj
    show_judgement(top, tiles_slot, obj)


def show_judgement(top: Any, tiles_slot: Any, obj: queries.Objectives) -> None:
    """Draw (or redraw) the headline and the tiles into their placeholders."""
    with top.container():
        headline(obj)
    with tiles_slot.container():
        tiles(obj)


def round_label(row: Mapping[Hashable, Any]) -> str:
    """How a round reads in the picker: mark, time, status, failures, short id."""
    started = row["started_at"]
    when = started.strftime("%m-%d %H:%M:%S") if isinstance(started, datetime) else str(started)
    mark = "✓" if row["status"] == "passed" else "✗"
    text = f"{mark} {when} · {row['status']} · {row['failed']} failed"
    if row.get("failures"):
        text += f" · {row['failures']}"
    return f"{text} · {str(row['run_id'])[:8]}"


def failure_lines(sessions: pd.DataFrame, limit: int = 10) -> list[str]:
    """One Markdown line per failed session: user, reason, close code, missing events, error."""
    lines = []
    for r in sessions[sessions["outcome"] != "ok"].head(limit).to_dict("records"):
        line = (
            f"- **{md_escape(r['user_id'])}**: {md_escape(r['reason'] or 'failed')} — {r['close']}"
        )
        if r["missing_events"]:
            line += f", missing {md_escape(r['missing_events'])}"
        if r["foreign_events"]:
            line += f", {r['foreign_events']} events of other users"
        if r["error"]:
            line += f" — {md_escape(r['error'])}"
        lines.append(line)
    return lines


def drill_down(ctx: Context) -> None:
    """One round: who failed and why, the event timeline, the sessions, the memory."""
    st.header("Round drill-down")
    if queries.store_status(ctx.url).state != "ready":
        st.caption("Rounds appear here once probes have stored some.")
        return
    until = queries.window_end(ctx.settings.dashboard.refresh_s)
    rounds = queries.latest_rounds(ctx.url, until, ALL)
    by_id = {str(r["run_id"]): r for r in rounds.to_dict("records")}
    run_id = st.selectbox(
        "Round (failing first, then newest)",
        list(by_id),
        key="round",
        bind="query-params",
        format_func=lambda rid: round_label(by_id[rid]) if rid in by_id else str(rid),
    )
    if run_id is None:
        return
    detail = queries.round_detail(ctx.url, run_id)
    if detail is None:
        st.warning(f"Round {md_code(run_id)} is not in the store.")
        return
    round_header(detail)
    round_body(ctx, detail)


def round_header(detail: queries.RoundDetail) -> None:
    s = detail.summary
    took = (s.finished_at - s.started_at).total_seconds()
    st.markdown(
        f"**Round** {md_code(s.run_id)} · **{s.status}** · probe {md_code(s.probe)} · "
        f"target {md_code(s.target)} · runner {md_code(s.runner)} · "
        f"started {utc(s.started_at)} · took {took:.1f} s"
    )
    failed = int((detail.sessions["outcome"] != "ok").sum())
    if failed:
        lines = failure_lines(detail.sessions)
        if failed > len(lines):
            lines.append(f"- … and {failed - len(lines)} more (table below)")
        st.error(
            f"**{failed} of {len(detail.sessions)} sessions failed**\n" + "\n".join(lines),
            icon=":material/person_alert:",
        )
    for problem in detail.problems:
        st.warning(md_escape(problem), icon=":material/warning:")
    if not failed and not detail.problems:
        st.success(
            "Every session, the bad-token check and the database check passed.",
            icon=":material/check_circle:",
        )


def round_body(ctx: Context, detail: queries.RoundDetail) -> None:
    st.plotly_chart(drilldown.round_timeline(detail.events, detail.sessions), key="timeline")
    st.dataframe(detail.sessions, hide_index=True, column_config=SESSION_COLUMNS)
    grow = chartdata.objective_for(ctx.settings, "memory_growth", detail.summary.probe)
    threshold = grow.threshold_mb if grow else None
    left, right = st.columns([3, 2])
    with left:
        figure = drilldown.round_memory_chart(
            detail.memory, started_at=detail.summary.started_at, threshold_mb=threshold
        )
        st.plotly_chart(figure, key="round-memory")
    with right:
        st.markdown("**Database check**")
        if detail.db_timings.empty:
            st.caption("This round made no database check.")
        else:
            st.dataframe(detail.db_timings, hide_index=True, column_config=DB_COLUMNS)
        st.markdown(f"**Bad-token check:** {detail.summary.auth}")


SESSION_COLUMNS: dict[str, Any] = {
    "user_id": "user",
    "close_code": None,
    "http_status": None,
    "missing_events": "missing events",
    "foreign_events": "other users' events",
    "order_ok": st.column_config.CheckboxColumn("in order"),
    "connect_ms": st.column_config.NumberColumn("connect", format="%.0f ms"),
    "first_event_ms": st.column_config.NumberColumn("first event", format="%.0f ms"),
    "completion_ms": st.column_config.NumberColumn("completed", format="%.0f ms"),
    "total_ms": st.column_config.NumberColumn("total", format="%.0f ms"),
    "error": st.column_config.TextColumn("error", width="large"),
}
DB_COLUMNS: dict[str, Any] = {
    "client_ms": st.column_config.NumberColumn("client", format="%.1f ms"),
    "server_ms": st.column_config.NumberColumn("server", format="%.1f ms"),
}


ctx = ui.context()
st.title("Live")
st.fragment(run_every=ctx.settings.dashboard.refresh_s)(status)(ctx)
drill_down(ctx)
