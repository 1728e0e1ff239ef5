"""A ``Report`` as one self-contained HTML file that opens offline.

Every piece of text goes through ``html.escape``; plotly's JavaScript is
inlined once, in the first chart; styles are inline; nothing is fetched from
anywhere.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

from dashboard.report import locations
from dashboard.report import tables as t
from dashboard.report.figures import figures
from dashboard.report.model import Report

STYLE = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 2rem auto; max-width: 72rem;
       color: #212121; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .3rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
h3 { font-size: 1rem; margin-bottom: .3rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .85rem; }
th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; white-space: nowrap; }
.verdict { font-size: 1.25rem; font-weight: bold; padding: .6rem .8rem; border-radius: 4px; }
.reason { font-weight: normal; font-size: 1rem; }
.PASS { background: #e8f5e9; color: #1b5e20; }
.FAIL { background: #ffebee; color: #b71c1c; }
.INSUFFICIENT { background: #fff3e0; color: #e65100; }
.met { color: #1b5e20; } .breached { color: #b71c1c; font-weight: bold; }
.nodata { color: #757575; }
.mono { font-family: "DejaVu Sans Mono", monospace; word-break: break-all; }
"""
NUMERIC = frozenset(
    {
        "value",
        "objective %",
        "error budget left",
        "burn rate",
        "samples",
        "coverage",
        "before",
        "after",
        "change",
    }
)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def table(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    status_col: int = -1,
    mono_col: int = -1,
) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            classes = []
            if header[i] in NUMERIC:
                classes.append("num")
            if i == status_col:
                classes.append(str(cell).replace(" ", ""))
            if i == mono_col:
                classes.append("mono")
            attr = f' class="{_e(" ".join(classes))}"' if classes else ""
            cells.append(f"<td{attr}>{_e(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _charts(report: Report) -> list[str]:
    out = ["<h2>Charts</h2>"]
    for i, fig in enumerate(figures(report)):
        out.append(
            fig.to_html(
                full_html=False,
                include_plotlyjs=(i == 0),
                div_id=f"chart-{i}",
                config={"displaylogo": False, "responsive": True},
            )
        )
    return out


def _failures(report: Report) -> list[str]:
    out = [f"<h2>{t.FAILURES_HEADING}</h2>"]
    if report.empty:
        return [*out, "<p>No data: no round or session was recorded in this window.</p>"]
    if not report.failures:
        return [*out, f"<p>{_e(t.no_failures_text(report))}</p>"]
    for group in report.failures:
        out.append(f"<h3>{_e(t.group_title(group))}</h3>")
        out.append(table(t.FAILURE_HEADER, t.failure_rows(group)))
        if note := t.group_note(group):
            out.append(f"<p>{_e(note)}</p>")
    return out


def _notes(report: Report) -> list[str]:
    out = ["<h2>Maintenance windows and annotations</h2>"]
    if report.maintenance:
        out.append("<p>Maintenance windows excluded from the SLO maths:</p>")
        out.append(table(t.ANNOTATION_HEADER, t.annotation_rows(report.maintenance)))
    else:
        out.append("<p>No maintenance window overlaps this window.</p>")
    out.append(f"<p>{_e(t.excluded_text(report.evaluation))}</p>")
    others = [a for a in report.annotations if a.kind != "maintenance"]
    if others:
        out.append("<p>Deploy and incident annotations in the window:</p>")
        out.append(table(t.ANNOTATION_HEADER, t.annotation_rows(others)))
    else:
        out.append("<p>No deploy or incident annotation in this window.</p>")
    return out


def _summary(report: Report) -> list[str]:
    main = report.main
    verdict_class = report.verdict.split()[0]
    items = [
        ("Window", t.window_text(main.since, main.until)),
        ("Filters", t.filters_text(report)),
        ("Records", t.rounds_text(main)),
        ("Minimum coverage for PASS", f"{report.evaluation.min_coverage:g} %"),
    ]
    return [
        f"<h1>{_e(t.TITLE)}</h1>",
        f'<p class="verdict {_e(verdict_class)}">Verdict: {_e(report.verdict)} — '
        f'<span class="reason">{_e(t.reason_line(report))}</span></p>',
        "<ul>" + "".join(f"<li><b>{_e(k)}:</b> {_e(v)}</li>" for k, v in items) + "</ul>",
        "<h2>Objectives</h2>",
        table(
            t.OBJECTIVE_HEADER,
            t.objective_rows(report.evaluation, report.settings.slos),
            status_col=4,
        ),
        f"<h2>{_e(t.PROBES_HEADING)}</h2>",
        table(t.PROBE_HEADER, t.probe_rows(main), mono_col=1)
        if main.probes
        else f"<p>{_e(t.NO_PROBES_TEXT)}</p>",
    ]


def _locations(report: Report) -> list[str]:
    if len(report.locations) < 2:
        return []
    return [
        "<h2>Objectives by location</h2>",
        f"<p>{_e(locations.EXPLAINED)}</p>",
        table(locations.HEADER, locations.rows(report.locations), status_col=3),
    ]


def _baseline(report: Report) -> list[str]:
    if report.baseline is None:
        return []
    base = report.baseline
    return [
        "<h2>Comparison with the baseline</h2>",
        "<ul>",
        f"<li><b>Baseline:</b> {_e(t.window_text(base.since, base.until))}; "
        f"{_e(t.rounds_text(base))}</li>",
        f"<li><b>Baseline verdict:</b> {_e(base.evaluation.verdict)} — "
        f"{_e(base.evaluation.reason)}</li>",
        "</ul>",
        table(t.COMPARISON_HEADER, t.comparison_rows(report)),
    ]


def html_document(report: Report) -> str:
    """The whole report as one HTML page (about 5 MB: plotly's JavaScript is inside)."""
    methods = "".join(f"<li><b>{_e(name)}:</b> {_e(text)}</li>" for name, text in t.METHODS)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(t.TITLE)}: {_e(report.verdict)}</title>",
        f"<style>{STYLE}</style></head><body>",
        *_summary(report),
        *_locations(report),
        *_baseline(report),
        *_charts(report),
        *_failures(report),
        *_notes(report),
        "<h2>How each figure is computed</h2>",
        table(("objective", "SLI", "definition"), t.definition_rows(report.settings.slos)),
        f"<ul>{methods}</ul>",
        "<h2>Facts of this report</h2>",
        table(("fact", "value"), t.fact_rows(report), mono_col=1),
        "</body></html>",
    ]
    return "\n".join(parts)
