"""OpenSLO and Sloth: the objectives out and back in, losslessly; what does not fit is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from probes.config import default_slos, parse_settings
from probes.errors import UnrepresentableSlo
from probes.slo_formats import from_openslo, to_openslo, to_sloth

SLAWATCH = Path(sys.executable).parent / "slawatch"
CUSTOM = """
[[slo]]
name = "fast-first-event"
sli = "first_event_latency"
objective = 99.5
window = "7d"
threshold_ms = 250
probe = "eu-chat"

[[slo]]
name = "db-write"
sli = "db_latency"
objective = 99.95
window = "90m"
threshold_ms = 40
operation = "result_store"

[[slo]]
name = "memory"
sli = "memory_growth"
objective = 100
window = "2w"
threshold_mb = 12.5
"""


@pytest.mark.parametrize("config", ["", CUSTOM])
def test_a_round_trip_through_openslo_is_lossless(config: str) -> None:
    slos = parse_settings(config).slos
    back = parse_settings(from_openslo(to_openslo(slos))).slos
    assert back == slos


def test_an_openslo_document_has_the_ratio_metric_and_rolling_window() -> None:
    (doc,) = yaml.safe_load_all(to_openslo(parse_settings(CUSTOM).slos[:1]))
    spec = doc["spec"]
    assert (doc["apiVersion"], doc["kind"], doc["metadata"]["name"]) == (
        "openslo/v1", "SLO", "fast-first-event",
    )  # fmt: skip
    assert spec["budgetingMethod"] == "Occurrences"
    assert spec["timeWindow"] == [{"duration": "7d", "isRolling": True}]
    assert spec["objectives"][0]["targetPercent"] == 99.5
    good = spec["indicator"]["spec"]["ratioMetric"]["good"]["metricSource"]
    assert good == {
        "type": "slawatch",
        "spec": {"sli": "first_event_latency", "events": "good", "threshold_ms": 250.0,
                 "probe": "eu-chat"},
    }  # fmt: skip


def _doc(**spec_changes: object) -> str:
    (doc,) = yaml.safe_load_all(to_openslo(default_slos()[:1]))
    doc["spec"].update(spec_changes)
    return yaml.safe_dump(doc)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_doc(budgetingMethod="Timeslices"), "spec.budgetingMethod 'Timeslices': only Occurrences"),
        (
            _doc(timeWindow=[{"duration": "1M", "isRolling": False, "calendar": {}}]),
            "spec.timeWindow: only rolling windows",
        ),
        (
            _doc(timeWindow=[{"duration": "1M", "isRolling": True}]),
            "spec.timeWindow.duration '1M': only whole m, h, d or w",
        ),
        (
            _doc(objectives=[{"targetPercent": 99}, {"targetPercent": 95}]),
            "spec.objectives must hold exactly one entry",
        ),
        ("apiVersion: openslo/v2\nkind: SLO\n", "only apiVersion openslo/v1, kind SLO is read"),
    ],
)
def test_what_cannot_be_represented_is_refused_by_name(text: str, message: str) -> None:
    with pytest.raises(UnrepresentableSlo, match="^document 1: " + message.replace("(", r"\(")):
        from_openslo(text)


def test_a_window_of_odd_seconds_cannot_be_exported() -> None:
    slo = parse_settings('[[slo]]\nname="x"\nsli="isolation"\nobjective=100\nwindow="90s"').slos
    with pytest.raises(UnrepresentableSlo, match="slo 'x': window: 90s is not a whole number"):
        to_openslo(slo)


def test_sloth_spec_reads_the_exported_counters() -> None:
    spec = yaml.safe_load(to_sloth(default_slos()[:1]))
    assert spec["version"] == "prometheus/v1"
    (slo,) = spec["slos"]
    assert slo["objective"] == 99.9
    events = slo["sli"]["events"]
    assert (
        'slawatch_slo_valid_events_total{slo="session-success"}[{{.window}}]'
        in events["total_query"]
    )
    assert "slawatch_slo_good_events_total" in events["error_query"]


def test_the_commands_export_and_import(tmp_path: Path) -> None:
    config = tmp_path / "slawatch.toml"
    config.write_text(CUSTOM)
    out = tmp_path / "slos.yaml"
    done = subprocess.run(
        [str(SLAWATCH), "slo", "export", "--config", str(config), "--format", "openslo",
         "-o", str(out)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    back = subprocess.run(
        [str(SLAWATCH), "slo", "import", str(out)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert back.returncode == 0, back.stderr
    assert parse_settings(back.stdout).slos == parse_settings(CUSTOM).slos
    bad = tmp_path / "bad.yaml"
    bad.write_text(_doc(budgetingMethod="Timeslices"))
    refused = subprocess.run(
        [str(SLAWATCH), "slo", "import", str(bad)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "document 1: spec.budgetingMethod 'Timeslices'" in refused.stderr
    assert "Traceback" not in refused.stderr
