"""Crash consistency: the writer SIGKILLed at random points, again and again, on one
SQLite file. Each time the file passes ``quick_check``, every acknowledged round is
stored whole, and nothing else is stored but (at most) the one round in flight.

Small by default (``SLAWATCH_CHAOS_KILLS``, 5 kills); the full run is
``SLAWATCH_CHAOS_KILLS=50 pytest tests/chaos/test_crash_consistency.py`` (docs/chaos.md).
"""

from __future__ import annotations

import os
import random
import selectors
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from probes.results import ResultStore
from tests.support.backend_process import ROOT
from tests.support.crash_writer import expected_round

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
FAR = datetime(2100, 1, 1, tzinfo=UTC)
KILLS = int(os.environ.get("SLAWATCH_CHAOS_KILLS", "5"))
WAIT_S = 60.0


def _lines_until_acks(proc: subprocess.Popen[str], acks: int) -> list[str]:
    """The writer's lines until it has acknowledged ``acks`` rounds (deadline WAIT_S)."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + WAIT_S
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while sum(line.startswith("saved ") for line in lines) < acks:
            if time.monotonic() > deadline or not selector.select(deadline - time.monotonic()):
                raise AssertionError(f"writer stalled; lines so far: {lines}")
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"writer ended; lines so far: {lines}")
            lines.append(line.strip())
    return lines


@pytest.mark.chaos_long
def test_sigkill_of_the_writer_never_loses_an_acknowledged_round(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    url = f"sqlite:///{path}"
    rng = random.Random(int(os.environ.get("SLAWATCH_CHAOS_SEED", "10")))
    acknowledged: set[str] = set()
    for kill in range(KILLS):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.crash_writer", url, f"k{kill}"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            lines = _lines_until_acks(proc, rng.randint(1, 4))
            time.sleep(rng.uniform(0, 0.02))  # the fault's random moment, not a wait
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(WAIT_S)
        assert proc.stdout is not None
        lines += proc.stdout.read().splitlines()  # through the same buffer readline used
        proc.stdout.close()
        acked = {line.split()[1] for line in lines if line.startswith("saved ")}
        in_flight = {line.split()[1] for line in lines if line.startswith("saving ")} - acked
        acknowledged |= acked
        _check(path, url, acknowledged, in_flight)


def _check(path: Path, url: str, acknowledged: set[str], in_flight: set[str]) -> None:
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA quick_check").fetchall() == [("ok",)]
    with ResultStore.open(url) as store:
        stored = {r["run_id"] for r in store.rounds_between(EPOCH, FAR)}
        session_rows = len(store.sessions_between(EPOCH, FAR))
        assert acknowledged <= stored, sorted(acknowledged - stored)
        assert stored - acknowledged <= in_flight, sorted(stored - acknowledged)
        # A round is stored whole or not at all: no orphan sessions, no partial round.
        assert session_rows == sum(len(expected_round(r).sessions) for r in stored)
        for run_id in acknowledged:
            assert store.round(run_id) == expected_round(run_id)
    acknowledged |= stored  # a round committed just before the kill counts from now on
