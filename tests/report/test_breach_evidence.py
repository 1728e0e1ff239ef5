"""A FAIL on a threshold objective carries its evidence: the breaching rounds and sessions."""

from __future__ import annotations

import json

from dashboard.report.model import build_report
from dashboard.report.render import render
from probes.records import RoundResult
from probes.results import ResultStore
from tests.report.conftest import HOUR, T0, good_hour, round_, save, session, settings


def _leaky_hour() -> list[RoundResult]:
    """Six rounds that pass on the protocol; two grow 97.8 MB, one has an 806 ms first event."""
    rounds = good_hour("r")
    for i in (1, 4):
        rounds[i] = round_(f"leak{i}", rounds[i].started_at, growth_mb=97.8)
    at = rounds[2].started_at
    slow = (session("slow", "probe-user-1", at, first_event_ms=806.0), session("slow", "u2", at))
    rounds[2] = round_("slow", at, slow)
    return rounds


def test_a_memory_fail_lists_the_breaching_rounds_and_never_says_none_failed(
    store: ResultStore,
) -> None:
    save(store, _leaky_hour())
    report = build_report(store, settings(), since=T0, until=T0 + HOUR, now=T0 + 2 * HOUR)
    assert report.verdict == "FAIL"
    md = render(report, "md").decode()
    assert "No session failed" not in md
    assert "6 rounds (3 passed, 3 breaching, 0 failed, 0 error, 0 skipped)" in md
    assert "### breaching memory-growth: 2 rounds" in md
    assert r"97\.8 MB \> 50 MB, \+47\.8 MB" in md  # Markdown-escaped figure
    groups = {g.reason: g for g in report.failures}
    assert set(groups["breaching memory-growth"].run_ids) == {"leak1", "leak4"}
    latency = groups["breaching first-event-latency"]
    assert (latency.sessions, latency.listed[0].users) == (1, ("probe-user-1",))
    assert latency.listed[0].errors == ("806.0 ms > 500 ms, +306.0 ms",)
    html = render(report, "html").decode()
    assert "Failing and breaching rounds" in html and "breaching memory-growth" in html
    assert "97.8 MB &gt; 50 MB, +47.8 MB" in html


def test_the_json_and_every_format_agree_on_the_breaching_count(store: ResultStore) -> None:
    save(store, _leaky_hour())
    report = build_report(store, settings(), since=T0, until=T0 + HOUR, now=T0 + 2 * HOUR)
    doc = json.loads(render(report, "json"))
    assert doc["verdict"] == "FAIL"
    assert report.main.breaching == 3
