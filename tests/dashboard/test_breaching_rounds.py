"""Stability's "breaching" count: rounds passed on the protocol, yet over a threshold objective."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from dashboard.chartdata.live import breaching_rounds
from probes.config import parse_settings
from probes.records import DbTiming, Filters
from probes.results import ResultStore
from tests.report.conftest import CONFIG, HOUR, T0, failed_session, round_, session

DB_SLO = """
[[slo]]
name = "db-thread-create"
sli = "db_latency"
objective = 99.0
threshold_ms = 10
operation = "thread_create"
"""


def test_each_kind_of_breach_counts_its_round_once(tmp_path: Path) -> None:
    at = [T0 + i * HOUR / 8 for i in range(6)]
    slow_db = (DbTiming("thread_create", 30.0, 25.0, True),)
    rounds = [
        round_("clean", at[0]),
        round_("leaky", at[1], growth_mb=97.8),  # memory over 50 MB
        replace(round_("slow-db", at[2]), db_timings=slow_db),  # thread_create over 10 ms
        round_("slow-user", at[3], (session("slow-user", "u1", at[3], first_event_ms=900.0),)),
        round_(
            "leaky-and-slow",
            at[4],
            (session("leaky-and-slow", "u1", at[4], first_event_ms=900.0),),
            growth_mb=80.0,
        ),
        round_("failed", at[5], (failed_session("failed", "u1", at[5]),), growth_mb=97.8),
    ]
    with ResultStore.open(f"sqlite:///{tmp_path / 'results.db'}") as store:
        store.save_rounds(rounds)
        settings = parse_settings(CONFIG + DB_SLO)
        found = breaching_rounds(store, settings, T0, T0 + HOUR, Filters())
        assert found == 4  # leaky, slow-db, slow-user, leaky-and-slow; not clean or failed
        assert breaching_rounds(store, parse_settings(CONFIG), T0, T0 + HOUR, Filters()) == 3
