"""Stability, for managers: compliance, error budgets and trends over a time range.

Every time chart carries the deploy markers and maintenance windows, and a
small form adds one (written through ``probes.results``). The range and the
filters live in the URL, so a view can be shared.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import streamlit as st

from dashboard import chartdata, queries, ui
from dashboard.chartdata import frames, policy
from dashboard.context import Context
from dashboard.figures import trends
from dashboard.format import md_escape, utc
from probes.records import Annotation, Filters

RANGES = {"1h": timedelta(hours=1), **policy.RANGES}
CUSTOM = "custom"
ALL = "all"
VERDICT_BOX = {"PASS": st.success, "FAIL": st.error}
NOTE_KINDS = ("deploy", "incident", "maintenance")
MAX_NOTE = 300
ADDED = "slawatch_note_added"


def pick_range(data_since: datetime | None = None) -> tuple[datetime, datetime, str]:
    """The range control (and the custom dates); returns since, until and a label.

    A preset range longer than the data starts at the first stored round's
    minute (``data_since``): the charts fit what there is instead of showing most of
    the range empty, and the label says so.
    """
    choice = st.segmented_control(
        "Time range",
        [*RANGES, CUSTOM],
        default="24h",
        required=True,
        key="range",
        bind="query-params",
    )
    until = queries.window_end(queries.STEP_S)
    if choice != CUSTOM:
        span = RANGES[choice or "24h"]
        start = until - span
        if data_since is not None and data_since.replace(second=0, microsecond=0) > start:
            start = data_since.replace(second=0, microsecond=0)
            return start, until, f"the last {choice} (data since {utc(start)})"
        return start, until, f"the last {choice}"
    today = until.date()
    picked = st.date_input(
        "Days (UTC)", value=(today - timedelta(days=6), today), max_value=today, key="days"
    )
    days = picked if isinstance(picked, tuple) else (picked,)
    first: date = days[0] if days else today
    last: date = days[-1] if len(days) > 1 else first
    since = datetime.combine(first, time(), UTC)
    end = min(datetime.combine(last + timedelta(days=1), time(), UTC), until)
    return since, end, f"{first.isoformat()} to {last.isoformat()} (UTC)"


def pick_filters(ctx: Context) -> Filters:
    labels = queries.labels(ctx.url)
    left, middle, right = st.columns(3)
    target = left.selectbox("Target", [ALL, *labels.targets], key="target", bind="query-params")
    probe = middle.selectbox("Probe", [ALL, *labels.probes], key="probe", bind="query-params")
    runner = right.selectbox("Runner", [ALL, *labels.runners], key="runner", bind="query-params")
    return Filters(
        target=None if target in (ALL, None) else target,
        probe=None if probe in (ALL, None) else probe,
        runner=None if runner in (ALL, None) else runner,
    )


def verdict(obj: queries.Objectives, label: str, breaching: int) -> None:
    """The verdict, then the rounds by state (``breaching``: passed, yet over an objective)."""
    box = VERDICT_BOX.get(obj.verdict, st.warning)
    box(f"**{obj.verdict}** over {md_escape(label)}: {md_escape(obj.reason)}")
    counts = dict(obj.rounds)
    counts["passed"] = counts.get("passed", 0) - breaching
    order = ("passed", "breaching", "failed", "error", "skipped")
    counts = {s: breaching if s == "breaching" else counts.get(s, 0) for s in order}
    total = sum(counts.values())
    parts = ", ".join(f"{n:,} {s}" for s, n in counts.items() if n)
    st.caption(f"{total:,} rounds in range" + (f": {parts}" if parts else ""))


def locations_section(ctx: Context, since: datetime, until: datetime, filters: Filters) -> None:
    """Each objective judged per location (runner label), when there is more than one."""
    if filters.runner is not None or len(queries.labels(ctx.url).runners) < 2:
        return
    st.subheader("Objectives by location")
    st.caption(
        "Each location judged alone over this range; its coverage counts its own scheduled "
        "slots, so a location that was down shows its gap here even when others covered it."
    )
    frame = queries.objectives_by_location(ctx.url, ctx.settings, since, until, filters)
    table = ui.locations_table(frame)
    st.dataframe(table, hide_index=True, height=ui.table_height(table), key="by-location")


def charts_grid(ctx: Context, since: datetime, until: datetime, filters: Filters) -> None:
    url = ctx.url
    bucket = chartdata.bucket_for(since, until)
    notes = queries.notes(url, since, until, filters.target)
    lines = chartdata.thresholds(ctx.settings, filters.probe)
    lat = queries.latency(url, since, until, filters, bucket)
    memory, per_round = queries.memory(url, since, until, filters, bucket)
    per = "per round" if per_round else f"worst round per {bucket // 60} min"
    st.caption(
        f"Points are {bucket // 60}-minute buckets; memory is {per}. Dotted lines: "
        "deploys and incidents; grey bands: maintenance; dashed red: the objective."
    )
    span: dict[str, Any] = {"annotations": notes, "since": since, "until": until}
    figures = {
        "first-event": trends.latency_chart(
            frames.latency_frame(lat, "first_event"), title="First event latency",
            threshold_ms=lines.first_event_ms, **span,
        ),
        "completion": trends.latency_chart(
            frames.latency_frame(lat, "completion"), title="Completion latency",
            threshold_ms=lines.completion_ms, **span,
        ),
        "memory": trends.memory_rounds_chart(
            memory, threshold_mb=lines.memory_mb, per_round=per_round, **span
        ),
        "close-codes": trends.close_codes_chart(
            queries.close_codes(url, since, until, filters, bucket), bucket_s=bucket, **span
        ),
        "completeness": trends.completeness_chart(
            queries.completeness(url, since, until, filters, bucket),
            objective=lines.completeness, **span,
        ),
        "db": trends.db_timings_chart(
            queries.db_timings(url, since, until, filters, bucket), thresholds=lines.db_ms, **span
        ),
    }  # fmt: skip
    columns = st.columns(2)
    for i, (key, figure) in enumerate(figures.items()):
        with columns[i % 2]:
            st.plotly_chart(figure, key=key)


def notes_section(ctx: Context, since: datetime, until: datetime, filters: Filters) -> None:
    st.subheader("Deploys, incidents and maintenance")
    if added := st.session_state.pop(ADDED, None):
        st.success(f"Added: {md_escape(added)}", icon=":material/check:")
    notes = queries.notes(ctx.url, since, until, filters.target)
    if notes.empty:
        st.caption("None in this range.")
    else:
        st.dataframe(
            notes.drop(columns="id"),
            hide_index=True,
            column_config={
                "start": st.column_config.DatetimeColumn("start (UTC)", format="YYYY-MM-DD HH:mm"),
                "end": st.column_config.DatetimeColumn("end (UTC)", format="YYYY-MM-DD HH:mm"),
            },
        )
    with st.expander("Add a deploy marker, incident or maintenance window"):
        note_form(ctx)


def note_form(ctx: Context) -> None:
    targets = queries.labels(ctx.url).targets
    with st.form("add-note", clear_on_submit=True):
        kind = st.selectbox("Kind", NOTE_KINDS)
        text = st.text_input("Note", max_chars=MAX_NOTE, placeholder="e.g. deploy v2.3.1")
        now = datetime.now(UTC).replace(second=0, microsecond=0, tzinfo=None)
        start = st.datetime_input("Start (UTC)", value=now, step=60)
        end = st.datetime_input(
            "End (UTC, maintenance only; empty = still open)", value=None, step=60
        )
        target = st.selectbox("Target", ["all targets", *targets])
        if not st.form_submit_button("Add"):
            return
    problem = note_problem(kind, text, start, end)
    if problem:
        st.error(problem)
        return
    assert start is not None
    note = Annotation(
        kind=kind,  # type: ignore[arg-type]
        start=start.replace(tzinfo=UTC),
        end=end.replace(tzinfo=UTC) if end is not None and kind == "maintenance" else None,
        text=text.strip(),
        target=None if target == "all targets" else target,
    )
    queries.writer(ctx.url).add_annotation(note)  # the store's write side
    queries.forget_notes()
    st.session_state[ADDED] = f"{kind} at {utc(note.start)}: {note.text}"
    st.rerun()


def note_problem(kind: str, text: str, start: datetime | None, end: datetime | None) -> str:
    """What is wrong with the form's values, or "" when they can be stored."""
    if not text.strip():
        return "Write a note: what was deployed, or why."
    if start is None:
        return "Give the start time."
    if kind == "maintenance" and end is not None and end <= start:
        return "The end of a maintenance window must be after its start."
    return ""


def main() -> None:
    ctx = ui.context()
    st.title("Stability")
    if not ui.require_data(ctx):
        return
    controls = st.columns([2, 3])
    with controls[0]:
        since, until, label = pick_range(queries.first_round_at(ctx.url))
    with controls[1]:
        filters = pick_filters(ctx)
    obj = queries.objectives(ctx.url, ctx.settings, since, until, filters)
    verdict(obj, label, queries.breaching_rounds(ctx.url, ctx.settings, since, until, filters))
    st.caption(f"From {utc(since)} to {utc(until)}.")
    st.subheader("Objectives")
    st.dataframe(ui.objectives_table(obj.frame), hide_index=True, height=ui.table_height(obj.frame))
    if not obj.frame.empty:
        st.plotly_chart(trends.budget_chart(obj.frame[["name", "budget_left"]]), key="budget")
    locations_section(ctx, since, until, filters)
    charts_grid(ctx, since, until, filters)
    notes_section(ctx, since, until, filters)


main()
