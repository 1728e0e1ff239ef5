"""Reports: pick a window (and a baseline), preview the report, download it in every format.

The report is ``dashboard.report.render.build_report`` over the store the dashboard
was started with, so it says what ``slawatch report`` says for the same window.
Tables are drawn with ``st.dataframe`` and the Markdown is shown as source;
nothing is rendered as HTML. Files are generated when their button is pressed.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
import streamlit as st

from dashboard import queries, ui
from dashboard.chartdata import policy
from dashboard.format import md_escape
from dashboard.report import tables as t
from dashboard.report.figures import figures
from dashboard.report.model import Report
from dashboard.report.render import MEDIA_TYPES, build_report, render, rounds_csv
from dashboard.report.text import markdown
from probes.records import Filters

WINDOWS = policy.RANGES
CUSTOM = "custom days"
BASELINES = ("none", "the window before", CUSTOM)
ALL = "all"
BUILT = "slawatch_report"
VERDICT_BOX = {"PASS": st.success, "FAIL": st.error}


def _days(
    label: str, key: str, default: tuple[date, date], today: date
) -> tuple[datetime, datetime]:
    """A range of whole UTC days, [first day 00:00, day after the last 00:00)."""
    picked = st.date_input(label, value=default, max_value=today, key=key)
    days = picked if isinstance(picked, tuple) else (picked,)
    first: date = days[0] if days else today
    last: date = days[-1] if len(days) > 1 else first
    end = datetime.combine(last + timedelta(days=1), time(), UTC)
    return datetime.combine(first, time(), UTC), end


def pick_windows(now: datetime) -> tuple[datetime, datetime, tuple[datetime, datetime] | None]:
    today = now.date()
    left, right = st.columns(2)
    with left:
        choice = st.segmented_control(
            "Window", [*WINDOWS, CUSTOM], default="7d", required=True, key="report_window"
        )
        if choice == CUSTOM:
            since, until = _days(
                "Days (UTC)", "report_days", (today - timedelta(days=6), today), today
            )
            until = min(until, now)
        else:
            until = now
            since = until - WINDOWS[choice or "7d"]
    with right:
        base = st.segmented_control(
            "Baseline", BASELINES, default="none", required=True, key="report_baseline"
        )
        baseline = None
        if base == "the window before":
            baseline = (since - (until - since), since)
        elif base == CUSTOM:
            start = since.date() - timedelta(days=7)
            baseline = _days(
                "Baseline days (UTC)",
                "report_baseline_days",
                (start, since.date() - timedelta(days=1)),
                today,
            )
    return since, until, baseline


def pick_filters(url: str) -> Filters:
    labels = queries.labels(url)
    left, middle, right = st.columns(3)
    target = left.selectbox("Target", [ALL, *labels.targets], key="report_target")
    probe = middle.selectbox("Probe", [ALL, *labels.probes], key="report_probe")
    runner = right.selectbox("Runner", [ALL, *labels.runners], key="report_runner")
    return Filters(
        target=None if target in (ALL, None) else target,
        probe=None if probe in (ALL, None) else probe,
        runner=None if runner in (ALL, None) else runner,
    )


def _table(header: tuple[str, ...], rows: list[list[str]]) -> None:
    st.dataframe(pd.DataFrame(rows, columns=list(header)), hide_index=True)


def preview(report: Report) -> None:
    box = VERDICT_BOX.get(report.verdict, st.warning)
    box(f"**Verdict: {report.verdict}** — {md_escape(t.reason_line(report))}")
    main = report.main
    st.caption(
        md_escape(
            f"{t.window_text(main.since, main.until)} · {t.rounds_text(main)} · "
            f"filters: {t.filters_text(report)}"
        )
    )
    _table(t.OBJECTIVE_HEADER, t.objective_rows(report.evaluation, report.settings.slos))
    if report.baseline is not None:
        base = report.baseline
        st.subheader("Comparison with the baseline")
        st.caption(
            md_escape(
                f"Baseline {t.window_text(base.since, base.until)}: "
                f"{base.evaluation.verdict} — {base.evaluation.reason}"
            )
        )
        _table(t.COMPARISON_HEADER, t.comparison_rows(report))
    st.subheader(t.FAILURES_HEADING)
    if not report.failures:
        st.caption("No data in this window." if report.empty else "None in this window.")
    for group in report.failures:
        st.markdown(f"**{md_escape(t.group_title(group))}**")
        _table(t.FAILURE_HEADER, t.failure_rows(group))
    with st.expander("Charts"):
        for i, fig in enumerate(figures(report)):
            st.plotly_chart(fig, key=f"report-chart-{i}")
    with st.expander("Markdown source"):
        st.code(markdown(report), language="markdown")


def downloads(report: Report) -> None:
    stamp = report.main.until.strftime("%Y%m%dT%H%MZ")
    name = f"slawatch-report-{stamp}"
    columns = st.columns(6)
    for column, fmt, label in zip(
        columns,
        ("pdf", "html", "md", "json", "csv"),
        ("PDF", "HTML", "Markdown", "JSON", "CSV sessions"),
        strict=False,
    ):
        column.download_button(
            label,
            data=functools.partial(render, report, fmt),
            file_name=f"{name}.{fmt}",
            mime=MEDIA_TYPES[fmt],
            key=f"download-{fmt}",
            on_click="ignore",
            icon=":material/download:",
        )
    columns[5].download_button(
        "CSV rounds",
        data=functools.partial(rounds_csv, report),
        file_name=f"{name}.rounds.csv",
        mime="text/csv",
        key="download-rounds",
        on_click="ignore",
        icon=":material/download:",
    )


def main() -> None:
    ctx = ui.context()  # bind address and login first, as on every page
    st.title("Reports")
    if not ui.require_data(ctx):
        return
    now = queries.window_end(60)  # whole minutes: the same picks give the same window
    since, until, baseline = pick_windows(now)
    filters = pick_filters(ctx.url)
    asked = (since, until, baseline, filters)
    if st.button("Build report", type="primary", icon=":material/description:"):
        with st.spinner("Judging the window and gathering the evidence ..."):
            report = build_report(
                queries.store(ctx.url),
                ctx.settings,
                since=since,
                until=until,
                now=datetime.now(UTC),
                filters=filters,
                baseline=baseline,
            )
        st.session_state[BUILT] = (asked, report)
    built = st.session_state.get(BUILT)
    if built is None:
        st.caption("Pick a window and build the report to preview and download it.")
        return
    report = built[1]
    if built[0] != asked:
        st.caption(
            "The report below is for the window it was built for; build again for the "
            "window picked now."
        )
    downloads(report)
    preview(report)


main()
