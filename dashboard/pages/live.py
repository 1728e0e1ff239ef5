"""Live, for on-call: what is broken right now, for which user, and why.

Every refresh (``[dashboard] refresh``) draws the headline, the tiles and the
lists from one ``LiveSnapshot`` (``dashboard.chartdata.live``): one read at one
``until``, so they always agree. The round drill-down refreshes with them and
follows the newest failing (or breaching) round until someone picks a round;
then it stays on that one ("pinned") until they choose to follow again.
``?round=RUN_ID`` in the URL pins that round.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import incidents, queries, ui
from dashboard.chartdata.live import PROBLEM_STATES, LiveSnapshot
from dashboard.context import Context
from dashboard.figures import drilldown
from dashboard.format import md_code, md_escape, utc
from dashboard.pages import live_locations
from probes.records import Filters

ALL = Filters()
TILES_PER_ROW = 4
LONG_TIME = "YYYY-MM-DD HH:mm:ss"
PINNED = "slawatch_live_pinned"  # the round this browser session picked, if any
MARK = {"passed": "✓", "breaching": "!", "failed": "✗", "error": "✗", "skipped": "-"}


def snapshot(ctx: Context) -> LiveSnapshot:
    """This refresh's one read (shared by the status part and the drill-down)."""
    until = queries.window_end(ctx.settings.dashboard.refresh_s)
    return queries.live_snapshot(ctx.url, ctx.settings, until, ALL)


def _when(value: Any) -> str:
    return value.strftime("%H:%M:%S") if isinstance(value, datetime | pd.Timestamp) else str(value)


def headline(snap: LiveSnapshot) -> None:
    """On top: which objectives are breached (or all met), then the newest round when it did
    not pass cleanly, so a fresh fault shows before it moves a 30-day objective."""
    frame = snap.objectives.frame
    newest = snap.newest
    problem = newest is not None and newest["state"] in PROBLEM_STATES
    if frame.empty:
        st.warning("No objectives are configured.")
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
    elif problem:
        st.warning(
            f"**All {total} objectives met over their windows**, but the newest round did not "
            "pass cleanly (below).",
            icon=":material/warning:",
        )
    elif not frame.empty:
        st.success(f"**All {total} objectives met.**", icon=":material/check_circle:")
    if problem:
        assert newest is not None
        st.error(
            f"**Newest round ({_when(newest['started_at'])} UTC) {newest['state']}:** "
            f"{md_escape(newest['why'])}",
            icon=":material/error:",
        )


def failing_sessions(snap: LiveSnapshot) -> None:
    st.subheader("Failing and breaching sessions, last hour")
    frame = snap.failing
    if frame.empty:
        st.success(
            "No session failed or breached an objective in the last hour.",
            icon=":material/check:",
        )
        return
    st.dataframe(
        ui.cells(frame),
        hide_index=True,
        column_order=[
            "started_at", "state", "user_id", "auth_mode", "reason", "close", "missing_events",
            "error", "probe", "target", "runner", "run_id",
        ],
        column_config={
            "started_at": st.column_config.DatetimeColumn("started (UTC)", format="HH:mm:ss"),
            "user_id": "user",
            "auth_mode": "auth",
            "close": "close code",
            "missing_events": "missing events",
            "error": st.column_config.TextColumn("error or breach", width="large"),
            "run_id": "round",
        },
    )  # fmt: skip


def tiles(snap: LiveSnapshot) -> None:
    rows = list(snap.objectives.frame.iterrows())
    for start in range(0, len(rows), TILES_PER_ROW):
        columns = st.columns(TILES_PER_ROW)
        for column, (_, row) in zip(columns, rows[start : start + TILES_PER_ROW], strict=False):
            with column:
                ui.objective_tile(row)


def latest_rounds(snap: LiveSnapshot) -> None:
    st.subheader("Latest rounds, failing and breaching first")
    st.dataframe(
        ui.cells(snap.rounds),
        hide_index=True,
        column_order=[
            "started_at", "state", "failed", "why", "probe", "target", "profile", "runner",
            "memory_growth_mb", "run_id",
        ],
        column_config={
            "started_at": st.column_config.DatetimeColumn("started (UTC)", format=LONG_TIME),
            "state": "state",
            "failed": "sessions failed",
            "why": st.column_config.TextColumn("why", width="large"),
            "memory_growth_mb": st.column_config.NumberColumn("memory growth", format="%.1f MB"),
            "run_id": "round",
        },
    )  # fmt: skip


def status(ctx: Context) -> None:
    """The self-refreshing part: headline, failing sessions, objective tiles, latest rounds."""
    if not ui.require_data(ctx):
        return
    refresh = ctx.settings.dashboard.refresh_s
    snap = snapshot(ctx)
    headline(snap)
    st.caption(
        f"As of {utc(snap.until)}; refreshes every {refresh:g} s. The headline, tiles and "
        "lists are one read. Each objective is judged over its own window (the config's)."
    )
    failing_sessions(snap)
    live_locations.section(ctx, snap.until)
    st.subheader("Objectives")
    tiles(snap)
    latest_rounds(snap)


def round_label(row: Mapping[Hashable, Any]) -> str:
    """How a round reads in the picker: mark, time, state, failures, short id."""
    started = row["started_at"]
    when = started.strftime("%m-%d %H:%M:%S") if isinstance(started, datetime) else str(started)
    state = str(row.get("state") or row["status"])
    text = f"{MARK.get(state, '?')} {when} · {state} · {row['failed']} failed"
    if row.get("why") and row["why"] != "—":
        text += f" · {row['why']}"
    return f"{text} · {str(row['run_id'])[:8]}"


def failure_lines(sessions: pd.DataFrame, limit: int = 10) -> list[str]:
    """One Markdown line per failed session: user, reason, close code, missing events, error."""
    lines = []
    for r in sessions[sessions["outcome"] != "ok"].head(limit).to_dict("records"):
        line = (
            f"- **{md_escape(r['user_id'])}** ({r['auth_mode']}): "
            f"{md_escape(r['reason'] or 'failed')} — {r['close']}"
        )
        if r["missing_events"]:
            line += f", missing {md_escape(r['missing_events'])}"
        detail = r["detail"]
        if detail:
            line += f" — {md_escape(detail)}"
        lines.append(line)
    return lines


def _pin() -> None:
    st.session_state[PINNED] = st.session_state.get("round")


def _follow() -> None:
    st.session_state.pop(PINNED, None)


def pick_round(snap: LiveSnapshot) -> str | None:
    """The picker: the newest failing round unless this browser session pinned one."""
    by_id = {str(r["run_id"]): r for r in snap.rounds.to_dict("records")}
    if PINNED not in st.session_state and st.query_params.get("round"):
        st.session_state[PINNED] = st.query_params["round"]  # a shared link pins its round
    pinned = st.session_state.get(PINNED)
    ids = list(by_id)
    if pinned and pinned not in by_id:
        ids.append(pinned)
    follow = snap.newest_problem or (ids[0] if ids else None)
    if not pinned and follow is not None:
        st.session_state["round"] = follow
    left, right = st.columns([5, 1], vertical_alignment="bottom")
    with left:
        run_id = st.selectbox(
            "Round (failing and breaching first, then newest)",
            ids,
            key="round",
            bind="query-params",
            on_change=_pin,
            format_func=lambda rid: round_label(by_id[rid]) if rid in by_id else str(rid),
        )
    with right:
        if pinned:
            st.button("Follow newest failing", on_click=_follow, key="follow")
        else:
            st.caption("following the newest failing round")
    return run_id


def drill_down(ctx: Context) -> None:
    """One round: who failed and why, what it breached, the event timeline, the sessions."""
    st.header("Round drill-down")
    if queries.store_status(ctx.url).state != "ready":
        st.caption("Rounds appear here once probes have stored some.")
        return
    snap = snapshot(ctx)
    run_id = pick_round(snap)
    if run_id is None:
        return
    detail = queries.round_detail(ctx.url, run_id)
    found = queries.round_breaches(ctx.url, ctx.settings, run_id)
    if detail is None or found is None:
        st.warning(f"Round {md_code(run_id)} is not in the store.")
        return
    round_header(detail, found)
    round_body(ctx, detail, found)


def round_header(detail: queries.RoundDetail, found: queries.RoundBreaches) -> None:
    s = detail.summary
    took = (s.finished_at - s.started_at).total_seconds()
    st.markdown(
        f"**Round** {md_code(s.run_id)} · **{found.state}** · probe {md_code(s.probe)} · "
        f"target {md_code(s.target)} · profile {md_code(s.profile)} · "
        f"runner {md_code(s.runner)} · "
        f"started {utc(s.started_at)} · took {took:.1f} s"
    )
    failed = int((detail.sessions["outcome"] != "ok").sum())
    if failed:
        lines = failure_lines(found.sessions)
        if failed > len(lines):
            lines.append(f"- … and {failed - len(lines)} more (table below)")
        st.error(
            f"**{failed} of {len(detail.sessions)} sessions failed**\n" + "\n".join(lines),
            icon=":material/person_alert:",
        )
    if found.texts:
        st.error(
            f"**Breaching {len(found.objectives)} objective(s)**"
            + (" (passed on the protocol)" if found.state == "breaching" else "")
            + "\n"
            + "\n".join(f"- {md_escape(t)}" for t in found.texts),
            icon=":material/speed:",
        )
    for problem in detail.problems:
        st.warning(md_escape(problem), icon=":material/warning:")
    if not failed and not detail.problems and not found.texts:
        st.success(
            "Every session, the bad-token check and the database check passed, within every "
            "objective's threshold.",
            icon=":material/check_circle:",
        )


def round_body(ctx: Context, detail: queries.RoundDetail, found: queries.RoundBreaches) -> None:
    st.plotly_chart(drilldown.round_timeline(detail.events, detail.sessions), key="timeline")
    st.dataframe(
        ui.cells(found.sessions),
        hide_index=True,
        column_order=SESSION_ORDER,
        column_config=SESSION_COLUMNS,
    )
    threshold = next((o.threshold_mb for o in ctx.settings.slos if o.sli == "memory_growth"), None)
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
            st.dataframe(ui.cells(detail.db_timings), hide_index=True, column_config=DB_COLUMNS)
        st.markdown(f"**Bad-token check:** {detail.summary.auth}")


SESSION_ORDER = [
    "user_id", "state", "auth_mode", "reason", "close", "breaches", "missing_events",
    "foreign_events", "order_ok", "connect_ms", "first_event_ms", "completion_ms",
    "events", "seq_gaps", "detail",
]  # fmt: skip
SESSION_COLUMNS: dict[str, Any] = {
    "user_id": "user",
    "auth_mode": "auth",
    "breaches": st.column_config.TextColumn("breaches", width="medium"),
    "missing_events": "missing events",
    "foreign_events": "other users' events",
    "order_ok": st.column_config.CheckboxColumn("in order"),
    "connect_ms": st.column_config.NumberColumn("connect", format="%.0f ms"),
    "first_event_ms": st.column_config.NumberColumn("first event", format="%.0f ms"),
    "completion_ms": st.column_config.NumberColumn("completed", format="%.0f ms"),
    "seq_gaps": "seq gaps",
    "detail": st.column_config.TextColumn("error", width="large"),
}
DB_COLUMNS: dict[str, Any] = {
    "client_ms": st.column_config.NumberColumn("client", format="%.1f ms"),
    "server_ms": st.column_config.NumberColumn("server", format="%.1f ms"),
}


ctx = ui.context()
st.title("Live")
refresh_s = ctx.settings.dashboard.refresh_s
st.fragment(run_every=refresh_s)(status)(ctx)
st.fragment(run_every=refresh_s)(incidents.section)(ctx)
st.fragment(run_every=refresh_s)(drill_down)(ctx)
