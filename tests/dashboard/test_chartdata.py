"""The chart-input layer: one bucket policy, one threshold picker, typed rows, no Streamlit."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.chartdata import bucket_for, objective_for, thresholds
from probes.config import parse_settings

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)

CONFIG = """
[[probes]]
name = "chat"
target = "ws://127.0.0.1:9/ws"

[[probes]]
name = "tools"
target = "ws://127.0.0.1:9/ws"

[[slo]]
name = "tools-db"
sli = "db_latency"
objective = 99
threshold_ms = 20
operation = "thread_create"
probe = "tools"

[[slo]]
name = "db"
sli = "db_latency"
objective = 99
threshold_ms = 50
operation = "thread_create"

[[slo]]
name = "db-read"
sli = "db_latency"
objective = 99
threshold_ms = 80
operation = "data_retrieval"

[[slo]]
name = "chat-completion"
sli = "completion_latency"
objective = 99
threshold_ms = 900
probe = "chat"
"""


def test_chart_input_layer_imports_no_streamlit() -> None:
    code = (
        "import sys, dashboard.chartdata.objectives, dashboard.chartdata.rounds, "
        "dashboard.chartdata.status, dashboard.report.render, dashboard.report.figures; "
        "print('streamlit' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("span", "width_s"),
    [
        (timedelta(seconds=0), 60),
        (timedelta(hours=1), 60),
        (timedelta(hours=24), 900),
        (timedelta(days=7), 3600),
        (timedelta(days=30), 4 * 3600),
        (timedelta(days=400), 86400),
    ],
)
def test_one_bucket_policy_gives_at_most_200_points(span: timedelta, width_s: int) -> None:
    assert bucket_for(T0, T0 + span) == width_s


@pytest.mark.parametrize(
    ("probe", "db_ms", "completion_ms"),
    [
        (None, {"thread_create": 50.0, "data_retrieval": 80.0}, None),
        ("chat", {"thread_create": 50.0, "data_retrieval": 80.0}, 900.0),
        ("tools", {"thread_create": 20.0, "data_retrieval": 80.0}, None),
    ],
)
def test_thresholds_are_the_first_objective_that_applies_to_the_probe_filter(
    probe: str | None, db_ms: dict[str, float], completion_ms: float | None
) -> None:
    lines = thresholds(parse_settings(CONFIG), probe)
    assert lines.db_ms == db_ms
    assert lines.completion_ms == completion_ms
    assert lines.first_event_ms is None


def test_an_objective_scoped_to_another_probe_is_never_picked() -> None:
    settings = parse_settings(CONFIG)
    assert objective_for(settings, "completion_latency", "tools") is None
    picked = objective_for(settings, "completion_latency", "chat")
    assert picked is not None and picked.name == "chat-completion"
