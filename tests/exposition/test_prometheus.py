"""A real Prometheus scrapes the exporter after real probe rounds, and answers from it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from probes.config import parse_settings
from probes.exposition.server import serve_metrics
from probes.results import ResultStore
from tests.support.backend_process import start_backends, stop_backends
from tests.support.ecosystem import prometheus, query, wait_for
from tests.support.probing import probe_round


def test_prometheus_reads_a_counter_and_a_burn_rate_after_real_rounds(tmp_path: Path) -> None:
    (backend,) = start_backends(tmp_path, ("close_1011=1",))
    try:
        first = asyncio.run(probe_round(backend.url, runner="eu-1"))
        second = asyncio.run(probe_round(backend.url, runner="eu-1"))
    finally:
        stop_backends([backend])
    with ResultStore.open(f"sqlite:///{tmp_path / 'slawatch.db'}") as store:
        store.save_round(first)
        store.save_round(second)
        served = serve_metrics(store, parse_settings(""), "127.0.0.1:0", "--listen")
        try:
            with prometheus(tmp_path, served.port) as base:
                sessions = wait_for(
                    lambda: query(base, 'slawatch_ws_sessions_total{runner="eu-1"}') or None,
                    "the sessions counter in Prometheus",
                )
                burn = wait_for(
                    lambda: (
                        query(base, 'slawatch_slo_burn_rate{slo="session-success",window="5m"}')
                        or None
                    ),
                    "the burn-rate gauge in Prometheus",
                )
        finally:
            served.stop()
    assert float(sessions[0]["value"][1]) == len(first.sessions) + len(second.sessions)
    assert sessions[0]["metric"]["probe"] == "default"
    # Every session closed 1011: the whole 5-minute budget burns, 1 / (1 - 0.999) = 1000x.
    assert float(burn[0]["value"][1]) == pytest.approx(1000.0)
