"""End to end: the release gate and the JSON report judge the same stored data the same way.

The built-in backend runs as a child process on port 0; ``slawatch probe --gate``
stores two rounds against it; ``slawatch report --format json`` then reads the
same database (built in-process at the minute's end, see ``gate_then_report``).
Both go through ``probes.judging.evaluation.evaluate_window``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dashboard.report.model import build_report
from dashboard.report.render import render
from probes.cli.report import resolve_windows
from probes.config import StoreSettings, load_settings
from probes.results import ResultStore

BIN = Path(sys.executable).parent
SECRET = "report-e2e-secret-0123456789abcdef0123"  # >= 32 bytes
READY = re.compile(r"slawatch-backend listening on (ws://\S+) pid=\d+")
VERDICT = re.compile(r"^verdict: (PASS|FAIL|INSUFFICIENT DATA) - ", re.MULTILINE)
# Loose latency thresholds: these tests are about agreement, not about this machine's speed.
CONFIG = """
[[probes]]
name = "default"
every = "1m"
timeout = "30s"
session_timeout = "20s"

[[slo]]
name = "session-success"
sli = "session_success"
objective = 99.0

[[slo]]
name = "no-internal-errors"
sli = "no_internal_errors"
objective = 99.0

[[slo]]
name = "isolation"
sli = "isolation"
objective = 100.0

[[slo]]
name = "first-event-latency"
sli = "first_event_latency"
objective = 50.0
threshold_ms = 15000
"""


@dataclass(frozen=True)
class Run:
    gate_code: int
    gate_verdict: str
    report: dict[str, Any]


def _env() -> dict[str, str]:
    return {**os.environ, "SLAWATCH_JWT_SECRET": SECRET}


@contextmanager
def backend(folder: Path, faults: tuple[str, ...] = ()) -> Iterator[str]:
    """The built-in backend as a child process; yields its ws:// URL."""
    argv = [
        sys.executable,
        "-m",
        "backend",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--db",
        str(folder / "backend.db"),
        "--step-delay-ms",
        "5",
    ]
    for fault in faults:
        argv += ["--fault", fault]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_env(), text=True, cwd=folder
    )
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()  # the one line the backend prints when listening
        match = READY.search(line)
        assert match, f"backend did not start: {line!r} (exit {proc.poll()})"
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()


def _minute(t: datetime, up: bool) -> datetime:
    floor = t.replace(second=0, microsecond=0)
    return floor + timedelta(minutes=1) if up else floor


def gate_then_report(folder: Path, faults: tuple[str, ...], window: str | None) -> Run:
    """Gate two rounds against a fresh backend, then report on the same database.

    The report's window is the whole minutes around the rounds, or ``window``
    (e.g. 1h) ending at the minute after them.
    """
    config = folder / "slawatch.toml"
    config.write_text(CONFIG, encoding="utf-8")
    common = ["--db", f"sqlite:///{folder / 'results.db'}", "--config", str(config)]
    started = datetime.now(UTC)
    with backend(folder, faults) as url:
        gate = subprocess.run(
            [
                str(BIN / "slawatch"),
                "probe",
                "--target",
                url,
                "--rounds",
                "2",
                "--users",
                "2",
                "--gate",
                *common,
            ],
            capture_output=True,
            text=True,
            env=_env(),
            cwd=folder,
            timeout=90,
        )
    finished = datetime.now(UTC)
    assert gate.returncode in (0, 1), gate.stderr
    verdict = VERDICT.search(gate.stdout)
    assert verdict, gate.stdout
    # The report refuses a window ending in the future, and the rounds are in the
    # minute under way: so it is built as `slawatch report` builds it, at the "now"
    # of the minute's end (the report's own clock is its only input not from the store).
    end = _minute(finished, True)
    flags = argparse.Namespace(
        window=window,
        since=None if window else _minute(started, False).isoformat(),
        until=end.isoformat(),
        baseline_window=None,
        baseline_since=None,
        baseline_until=None,
    )
    since, until, _ = resolve_windows(flags, end)
    settings = replace(
        load_settings(config), store=StoreSettings(f"sqlite:///{folder / 'results.db'}")
    )
    with ResultStore.open(settings.store.url) as store:
        report = build_report(store, settings, since=since, until=until, now=end)
    return Run(gate.returncode, verdict.group(1), json.loads(render(report, "json")))


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Every session closed 1011 by the backend; the report over the rounds' minutes."""
    return gate_then_report(tmp_path_factory.mktemp("faulty"), ("close_1011=1.0",), None)


@pytest.fixture(scope="module")
def thin(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A backend without faults; the report over the hour ending after the two rounds."""
    return gate_then_report(tmp_path_factory.mktemp("thin"), (), "1h")


def test_the_report_fails_a_backend_that_closes_1011(faulty: Run) -> None:
    doc = faulty.report
    breached = {o["name"] for o in doc["objectives"] if o["status"] == "breached"}
    assert {"session-success", "no-internal-errors"} <= breached
    assert doc["verdict"] == "FAIL"
    assert doc["rounds"]["failed"] == 2 and doc["facts"]["sessions"] == 4
    assert "closed_abnormally" in {f["reason"] for f in doc["failures"]}


def test_the_gate_exit_code_agrees_with_the_report_on_a_faulty_backend(faulty: Run) -> None:
    assert faulty.report["verdict"] == "FAIL"
    assert (faulty.gate_code, faulty.gate_verdict) == (1, "FAIL")


def test_the_report_claims_no_pass_on_thin_coverage_and_agrees_with_the_gate(thin: Run) -> None:
    doc = thin.report
    # two rounds where sixty were scheduled: never PASS, whatever the objectives say
    assert doc["verdict"] != "PASS"
    assert all(o["coverage"] < 0.9 for o in doc["objectives"])
    assert (doc["verdict"] == "FAIL") == (thin.gate_verdict == "FAIL") == (thin.gate_code == 1)
