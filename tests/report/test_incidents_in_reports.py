"""Reports list the incidents open in their window, with open and resolved times."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from dashboard.report.model import build_report
from dashboard.report.render import render
from probes.alerting.service import Alerting
from probes.results import ResultStore
from tests.report.conftest import T0, failed_session, round_, settings

HOUR = timedelta(hours=1)


def test_an_incident_of_the_window_is_in_markdown_and_json(store: ResultStore) -> None:
    clock = [T0]
    alerts = Alerting(store, settings(), now=lambda: clock[0])
    for i, bad in enumerate((True, True, False, False)):
        at = T0 + timedelta(minutes=10 * i + 1)
        clock[0] = at
        sessions = (failed_session(f"r{i}", "probe-user-1", at),) if bad else None
        r = round_(f"r{i}", at, sessions)
        store.save_round(r)
        asyncio.run(alerts.judge(r))
    (incident,) = store.incidents_between(T0, T0 + HOUR)
    report = build_report(store, settings(), since=T0, until=T0 + HOUR, now=T0 + 2 * HOUR)
    text = render(report, "md").decode()
    assert "## Incidents" in text
    assert incident.id in text
    doc = json.loads(render(report, "json"))
    (shown,) = doc["incidents"]
    assert shown["incident_id"] == incident.id
    assert shown["opened_at"] == (T0 + timedelta(minutes=11)).isoformat()
    assert shown["resolved_at"] == (T0 + timedelta(minutes=31)).isoformat()
    later = build_report(
        store, settings(), since=T0 + 2 * HOUR, until=T0 + 3 * HOUR, now=T0 + 4 * HOUR
    )
    assert later.incidents == ()
    assert "No incident was open in this window." in render(later, "md").decode()
