"""A report filtered by probe draws that probe's objective lines, never another probe's."""

from __future__ import annotations

import pytest

from dashboard.report.render import build_report, render
from probes.config import parse_settings
from probes.records import Filters
from probes.results import ResultStore
from tests.report.conftest import HOUR, T0, good_hour, save

# The stored rounds are all probe "default"; a "tools" probe has its own, tighter objectives,
# listed first so that a picker ignoring the probe filter would take them.
CONFIG = """
[[probes]]
name = "default"
target = "ws://127.0.0.1:9/ws"
every = "10m"

[[probes]]
name = "tools"
target = "ws://127.0.0.1:9/ws"
every = "10m"

[[slo]]
name = "tools-first-event"
sli = "first_event_latency"
objective = 90.0
threshold_ms = 123
probe = "tools"

[[slo]]
name = "default-first-event"
sli = "first_event_latency"
objective = 90.0
threshold_ms = 456
probe = "default"

[[slo]]
name = "tools-memory"
sli = "memory_growth"
objective = 100.0
threshold_mb = 7
probe = "tools"

[[slo]]
name = "all-memory"
sli = "memory_growth"
objective = 100.0
threshold_mb = 55
"""


def chart_html(store: ResultStore, probe: str | None) -> str:
    settings = parse_settings(CONFIG)
    report = build_report(
        store, settings, since=T0, until=T0 + HOUR, now=T0 + HOUR, filters=Filters(probe=probe)
    )
    return render(report, "html").decode()


@pytest.mark.parametrize(
    ("probe", "drawn", "not_drawn"),
    [
        (
            "default",
            {"objective 456 ms", "objective 55 MB"},
            {"objective 123 ms", "objective 7 MB"},
        ),
        # all probes: only objectives without a probe apply to the whole data
        (None, {"objective 55 MB"}, {"objective 123 ms", "objective 456 ms", "objective 7 MB"}),
    ],
)
def test_report_charts_draw_only_the_filtered_probes_objectives(
    store: ResultStore, probe: str | None, drawn: set[str], not_drawn: set[str]
) -> None:
    save(store, good_hour("r"))
    page = chart_html(store, probe)
    assert {text for text in drawn | not_drawn if text in page} == drawn
