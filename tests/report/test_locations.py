"""Reports break each objective down by location (runner label)."""

from __future__ import annotations

import json
from dataclasses import replace

from dashboard.report.render import build_report, render
from probes.records import RoundResult
from probes.results import ResultStore
from tests.report.conftest import HOUR, T0, failed_session, good_hour, save, settings


def at_location(r: RoundResult, runner: str, *, failing: bool = False) -> RoundResult:
    sessions = tuple(
        replace(failed_session(r.run_id, s.user_id, s.started_at) if failing else s, runner=runner)
        for s in r.sessions
    )
    return replace(r, runner=runner, sessions=sessions, status="failed" if failing else r.status)


def test_each_location_is_judged_alone_in_markdown_and_json(store: ResultStore) -> None:
    save(store, [at_location(r, "eu") for r in good_hour("eu")])
    save(store, [at_location(r, "us", failing=True) for r in good_hour("us")])
    report = build_report(store, settings(), since=T0, until=T0 + HOUR, now=T0 + 2 * HOUR)
    assert [loc.runner for loc in report.locations] == ["eu", "us"]
    text = render(report, "md").decode()
    section = text.split("## Objectives by location")[1].split("\n## ")[0]
    assert "| session-success | eu | 100.00 % | met |" in section
    assert "| session-success | us | 0.00 % | breached |" in section
    document = json.loads(render(report, "json"))
    success = {
        runner: next(r for r in results if r["name"] == "session-success")
        for runner, results in document["locations"].items()
    }
    assert {k: (v["good"], v["valid"], v["status"]) for k, v in success.items()} == {
        "eu": (12, 12, "met"),
        "us": (0, 12, "breached"),
    }
