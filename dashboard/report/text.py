"""A ``Report`` as Markdown or JSON text.

Markdown makes text from probes, targets and people literal (``md_escape``).
JSON carries every figure, numbers through ``slo.json_number`` (infinities as
"Infinity"/"-Infinity", never NaN) and times in ISO 8601, so it always parses.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from dashboard.format import md_escape
from dashboard.report import locations
from dashboard.report import tables as t
from dashboard.report.model import Period, Report
from probes.alerting.incidents import Incident
from probes.judging.slo import json_number, result_to_json
from probes.records import Annotation

# --- Markdown -----------------------------------------------------------------------


class _Literal(str):
    """Text already made literal for Markdown."""


def _cell(text: object, user: bool) -> str:
    if isinstance(text, _Literal):
        return text
    if user:
        return md_escape(text)
    return " ".join(str(text).split()).replace("|", "\\|")


def md_table(
    header: Sequence[str], rows: Iterable[Sequence[str]], user: frozenset[int] = frozenset()
) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c, i in user) for i, c in enumerate(r)) + " |" for r in rows]
    return [*lines, ""]


def _failures_md(report: Report) -> list[str]:
    out = [f"## {t.FAILURES_HEADING}", ""]
    if report.empty:
        return [*out, "No data: no round or session was recorded in this window.", ""]
    if not report.failures:
        return [*out, t.no_failures_text(report), ""]
    for group in report.failures:
        out += [f"### {_cell(t.group_title(group), False)}", ""]
        out += md_table(t.FAILURE_HEADER, t.failure_rows(group), t.FAILURE_USER_TEXT)
        if note := t.group_note(group):
            out += [note, ""]
    return out


def _notes_md(report: Report) -> list[str]:
    out = ["## Maintenance windows and annotations", ""]
    if report.maintenance:
        out += ["Maintenance windows excluded from the SLO maths:", ""]
        out += md_table(
            t.ANNOTATION_HEADER, t.annotation_rows(report.maintenance), t.ANNOTATION_USER_TEXT
        )
    else:
        out += ["No maintenance window overlaps this window.", ""]
    out += [t.excluded_text(report.evaluation), ""]
    others = [a for a in report.annotations if a.kind != "maintenance"]
    if others:
        out += ["Deploy and incident annotations in the window:", ""]
        out += md_table(t.ANNOTATION_HEADER, t.annotation_rows(others), t.ANNOTATION_USER_TEXT)
    else:
        out += ["No deploy or incident annotation in this window.", ""]
    return out


def _incidents_md(report: Report) -> list[str]:
    out = ["## Incidents", ""]
    if not report.incidents:
        return [*out, "No incident was open in this window.", ""]
    rows = [
        [
            i.id, utc_text(i.opened_at), utc_text(i.resolved_at) if i.resolved_at else "open",
            i.subject.probe, i.subject.target, i.subject.runner,
            f"objective {i.objective}" if i.objective else "failed rounds", i.summary,
        ]
        for i in report.incidents
    ]  # fmt: skip
    header = ("incident", "opened", "resolved", "probe", "target", "runner", "opened by", "summary")
    return out + md_table(header, rows, frozenset({0, 3, 4, 5, 7}))


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _incident(i: Incident) -> dict[str, Any]:
    return {
        "incident_id": i.id,
        "kind": i.kind,
        "objective": i.objective,
        "probe": i.subject.probe,
        "target": i.subject.target,
        "runner": i.subject.runner,
        "severity": i.severity,
        "opened_at": i.opened_at.isoformat(),
        "resolved_at": i.resolved_at.isoformat() if i.resolved_at else None,
        "summary": i.summary,
    }


def _filters(report: Report) -> str:
    """The filters, literal: a target URL or probe name is not Markdown."""
    f = report.filters
    if f.target is None and f.probe is None and f.runner is None:
        return t.filters_text(report)
    return _Literal(md_escape(t.filters_text(report)))


def markdown(report: Report) -> str:
    """The report as Markdown, in the issue's order: verdict first, facts last."""
    main = report.main
    out = [f"# {t.TITLE}", "", f"**{_cell(t.headline(report), False)}**", ""]
    out += [
        f"- Window: {t.window_text(main.since, main.until)}",
        f"- Filters: {_filters(report)}",
        f"- Records: {t.rounds_text(main)}",
        f"- Minimum coverage for PASS: {report.evaluation.min_coverage:g} %",
        "",
        "## Objectives",
        "",
    ]
    out += md_table(t.OBJECTIVE_HEADER, t.objective_rows(report.evaluation, report.settings.slos))
    out += [f"## {t.PROBES_HEADING}", ""]
    if main.probes:
        out += md_table(t.PROBE_HEADER, t.probe_rows(main), t.PROBE_USER_TEXT)
    else:
        out += [t.NO_PROBES_TEXT, ""]
    if len(report.locations) > 1:
        out += ["## Objectives by location", "", locations.EXPLAINED, ""]
        out += md_table(locations.HEADER, locations.rows(report.locations))
    if report.baseline is not None:
        base = report.baseline
        out += [
            "## Comparison with the baseline",
            "",
            f"- Baseline: {t.window_text(base.since, base.until)}; {t.rounds_text(base)}",
            f"- Baseline verdict: {base.evaluation.verdict} — "
            f"{_cell(base.evaluation.reason, False)}",
            "",
        ]
        out += md_table(t.COMPARISON_HEADER, t.comparison_rows(report))
    out += ["## Charts", "", t.CHARTS_ELSEWHERE, ""]
    out += _failures_md(report)
    out += _notes_md(report)
    out += _incidents_md(report)
    out += ["## How each figure is computed", ""]
    out += md_table(("objective", "SLI", "definition"), t.definition_rows(report.settings.slos))
    out += [f"- **{name}**: {text}" for name, text in t.METHODS]
    out += ["", "## Facts of this report", ""]
    facts = [[k, _filters(report) if k == "filters" else v] for k, v in t.fact_rows(report)]
    out += md_table(("fact", "value"), facts)
    return "\n".join(out)


# --- JSON -------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A store value made JSON-safe: datetimes in ISO 8601, floats through json_number."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return json_number(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _annotation(a: Annotation) -> dict[str, Any]:
    return {
        "kind": a.kind,
        "start": a.start.isoformat(),
        "end": None if a.end is None else a.end.isoformat(),
        "text": a.text,
        "target": a.target,
    }


def _objectives(period: Period, report: Report) -> list[dict[str, Any]]:
    by_name = {s.name: s for s in report.settings.slos}
    out = []
    for r in period.evaluation.results:
        item = result_to_json(r)
        item["samples"] = r.valid
        slo = by_name.get(r.name)
        if slo is not None:
            item.update(
                threshold_ms=slo.threshold_ms,
                threshold_mb=slo.threshold_mb,
                operation=slo.operation,
                probe=slo.probe,
                definition=t.good_text(slo),
            )
        out.append(item)
    return out


def _period(period: Period, report: Report) -> dict[str, Any]:
    ev = period.evaluation
    return {
        "since": period.since.isoformat(),
        "until": period.until.isoformat(),
        "verdict": ev.verdict,
        "reason": ev.reason,
        "objectives": _objectives(period, report),
        "rounds": {**ev.rounds, "total": sum(ev.rounds.values()), "with_data": ev.rounds_with_data},
        "records": {
            "sessions": period.evidence.sessions,
            "rounds": period.evidence.rounds,
            "sessions_sha256": period.evidence.sessions_sha256,
            "rounds_sha256": period.evidence.rounds_sha256,
            "digest": period.evidence.digest,
        },
    }


def json_document(report: Report) -> dict[str, Any]:
    """Every figure of the report as plain JSON values (``verdict`` and ``objectives`` first)."""
    main = _period(report.main, report)
    f = report.filters
    baseline = None
    comparison = None
    if report.baseline is not None:
        baseline = _period(report.baseline, report)
        before = {r.name: r for r in report.baseline.evaluation.results}
        comparison = [
            {
                "name": r.name,
                "figures": {
                    "value": _delta(before[r.name].value, r.value),
                    "budget_left": _delta(before[r.name].budget_left, r.budget_left),
                    "burn_rate": _delta(before[r.name].burn_rate, r.burn_rate),
                    "samples": _delta(before[r.name].valid, r.valid),
                    "coverage": _delta(before[r.name].coverage, r.coverage),
                    "status": {"before": before[r.name].status, "after": r.status},
                },
            }
            for r in report.evaluation.results
            if r.name in before
        ]
    return {
        "verdict": main["verdict"],
        "reason": main["reason"],
        "no_data": report.empty,
        "objectives": main["objectives"],
        "window": {
            "since": main["since"],
            "until": main["until"],
            "filters": {"target": f.target, "probe": f.probe, "runner": f.runner},
            "min_coverage": report.evaluation.min_coverage,
        },
        "rounds": main["rounds"],
        "probes": [
            {"probe": p.probe, "target": p.target, "profile": p.profile, "rounds": p.rounds}
            for p in report.main.probes
        ],
        "locations": {
            loc.runner: [result_to_json(r) for r in loc.evaluation.results]
            for loc in report.locations
        },
        "baseline": baseline,
        "comparison": comparison,
        "failures": [
            {
                "reason": g.reason,
                "sessions": g.sessions,
                "rounds": g.rounds,
                "listed": [
                    {
                        "run_id": x.run_id,
                        "started_at": x.started_at,
                        "users": list(x.users),
                        "close_codes": list(x.close_codes),
                        "errors": list(x.errors),
                    }
                    for x in g.listed
                ],
            }
            for g in report.failures
        ],
        "maintenance": [_annotation(a) for a in report.maintenance],
        "annotations": [_annotation(a) for a in report.annotations],
        "incidents": [_incident(i) for i in report.incidents],
        "series": _plain(report.series.plain()),
        "facts": {
            "generated_at": report.generated_at.isoformat(),
            "slawatch_version": report.version,
            "config": report.settings.origin,
            "config_digest": report.settings.digest,
            "config_digest_of": report.settings.digest_basis,
            "records": main["records"]["sessions"] + main["records"]["rounds"],
            **{k: v for k, v in main["records"].items()},
            "digest_recipe": t.DIGEST_RECIPE,
        },
    }


def _delta(before: float | None, after: float | None) -> dict[str, Any]:
    change = None if before is None or after is None else after - before
    return {
        "before": json_number(before),
        "after": json_number(after),
        "change": json_number(change),
    }


def json_text(report: Report) -> str:
    return json.dumps(json_document(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
