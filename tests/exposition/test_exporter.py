"""``/metrics`` over HTTP after real probe rounds: every series, right values, stable counters.

The rounds are real (the built-in backend as a child process, one healthy and
one with ``close_1011`` on), stored in a real store, and scraped from the real
``prometheus_client`` HTTP server the exporter starts; the expected values are
counted from the stored sessions (``sessions_between``), not from the code
under test.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from probes.config import parse_settings
from probes.exposition.server import Exporter, serve_metrics
from probes.records import RoundResult
from probes.results import ResultStore
from tests.support.backend_process import Backend, start_backends, stop_backends
from tests.support.probing import probe_round
from tests.support.scrape import samples, scrape_text, total

SETTINGS = parse_settings('runner = "exporter-host"\n')
FAMILIES = (
    "slawatch_ws_sessions_total", "slawatch_ws_sessions_failed_total",
    "slawatch_ws_close_codes_total", "slawatch_ws_msgs_sent_total",
    "slawatch_ws_msgs_received_total", "slawatch_ws_connecting_seconds_bucket",
    "slawatch_first_event_seconds_count", "slawatch_completion_seconds_sum",
    "slawatch_db_operation_seconds_bucket", "slawatch_isolation_foreign_events_total",
    "slawatch_target_memory_bytes", "slawatch_target_memory_growth_bytes",
    "slawatch_round_success", "slawatch_round_duration_seconds",
    "slawatch_last_round_timestamp_seconds", "slawatch_rounds_total",
    "slawatch_rounds_skipped_total",
    "slawatch_slo_good_events_total", "slawatch_slo_valid_events_total",
    "slawatch_slo_objective_ratio", "slawatch_slo_error_budget_remaining_ratio",
    "slawatch_slo_burn_rate", "slawatch_slo_alert_firing", "slawatch_store_up",
    "slawatch_scrape_duration_seconds", "slawatch_build_info",
)  # fmt: skip


@pytest.fixture(scope="module")
def rounds(tmp_path_factory: pytest.TempPathFactory) -> list[RoundResult]:
    """Two runners' rounds: healthy ones from eu-1, 1011 ones from us-1."""
    healthy, broken = start_backends(tmp_path_factory.mktemp("b"), (), ("close_1011=1",))
    try:
        return asyncio.run(_rounds(healthy, broken))
    finally:
        stop_backends([healthy, broken])


async def _rounds(healthy: Backend, broken: Backend) -> list[RoundResult]:
    return [
        await probe_round(healthy.url, runner="eu-1"),
        await probe_round(healthy.url, runner="eu-1"),
        await probe_round(broken.url, runner="us-1"),
    ]


def exported(store_url: str) -> tuple[dict[Any, float], str]:
    """Scrape a freshly started exporter over ``store_url`` once."""
    with ResultStore.open(store_url) as store:
        served: Exporter = serve_metrics(store, SETTINGS, "127.0.0.1:0", "--listen")
        try:
            page = scrape_text(served.port)
        finally:
            served.stop()
    return samples(page), page


def test_every_series_matches_the_stored_sessions(
    store_url: str, rounds: list[RoundResult]
) -> None:
    with ResultStore.open(store_url) as store:
        for r in rounds:
            store.save_round(r)
        now = datetime.now(UTC)
        stored = store.sessions_between(now - timedelta(hours=1), now + timedelta(minutes=1))
    page, raw = exported(store_url)
    assert {name for name, _ in page} >= set(FAMILIES)
    for runner in ("eu-1", "us-1"):
        mine = [s for s in stored if s["runner"] == runner]
        assert total(page, "slawatch_ws_sessions_total", runner=runner) == len(mine)
        failed = Counter(s["reason"] for s in mine if s["outcome"] != "ok")
        for reason, n in failed.items():
            assert (
                total(page, "slawatch_ws_sessions_failed_total", runner=runner, reason=reason) == n
            )
        assert total(page, "slawatch_ws_sessions_failed_total", runner=runner) == sum(
            failed.values()
        )
        codes = Counter(str(s["close_code"]) for s in mine if s["close_code"] is not None)
        for code, n in codes.items():
            assert total(page, "slawatch_ws_close_codes_total", runner=runner, code=code) == n
        received = sum(len(s["events"]) for s in mine)
        assert total(page, "slawatch_ws_msgs_received_total", runner=runner) == received
        firsts = [s for s in mine if s["first_event_ms"] is not None]
        assert total(page, "slawatch_first_event_seconds_count", runner=runner) == len(firsts)
    assert total(page, "slawatch_ws_close_codes_total", runner="us-1", code="1011") > 0
    assert total(page, "slawatch_round_success", runner="eu-1") == 1
    assert total(page, "slawatch_round_success", runner="us-1") == 0
    assert total(page, "slawatch_rounds_total") == len(rounds)
    success = dict(runner="us-1", slo="session-success")
    assert total(page, "slawatch_slo_good_events_total", **success) == 0
    assert total(page, "slawatch_slo_valid_events_total", **success) == len(rounds[2].sessions)
    assert total(page, "slawatch_slo_error_budget_remaining_ratio", **success) < 0
    assert total(page, "slawatch_slo_burn_rate", runner="eu-1", slo="session-success") == 0
    assert total(page, "slawatch_store_up") == 1
    for name, labels in page:
        assert {"probe", "target", "runner"} <= {k for k, _ in labels}, name
        assert "success" not in {k for k, _ in labels}, name
    for line in raw.splitlines():  # no sample carries a timestamp: value is the last field
        if line and not line.startswith("#"):
            assert line.rsplit("} ", 1)[-1].count(" ") == 0, line


def test_counters_survive_an_exporter_restart_and_only_grow(
    store_url: str, rounds: list[RoundResult]
) -> None:
    with ResultStore.open(store_url) as store:
        store.save_round(rounds[0])
    first, _ = exported(store_url)
    again, _ = exported(store_url)  # a restarted exporter: the counters are the store's
    counters = {k: v for k, v in first.items() if k[0].endswith(("_total", "_count", "_bucket"))}
    assert counters
    assert {k: again[k] for k in counters} == counters
    with ResultStore.open(store_url) as store:
        store.save_round(rounds[1])
    later, _ = exported(store_url)
    assert all(later[k] >= v for k, v in counters.items())
    assert total(later, "slawatch_ws_sessions_total") == len(rounds[0].sessions) + len(
        rounds[1].sessions
    )


def test_several_runners_in_one_store_are_counted_once_each(
    store_url: str, rounds: list[RoundResult]
) -> None:
    # Two runners write into one store; two exporters read it: each round counted once.
    with ResultStore.open(store_url) as one, ResultStore.open(store_url) as other:
        one.save_round(rounds[0])
        other.save_round(rounds[2])
    page_a, _ = exported(store_url)
    page_b, _ = exported(store_url)
    expected = len(rounds[0].sessions) + len(rounds[2].sessions)
    assert total(page_a, "slawatch_ws_sessions_total") == expected
    assert total(page_b, "slawatch_ws_sessions_total") == expected
    assert total(page_a, "slawatch_rounds_total", runner="eu-1") == 1
    assert total(page_a, "slawatch_rounds_total", runner="us-1") == 1


def test_an_unreadable_store_reports_store_up_zero(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'slawatch.db'}"
    with ResultStore.open(url) as store:
        served = serve_metrics(store, SETTINGS, "127.0.0.1:0", "--listen")
        try:
            (tmp_path / "slawatch.db").unlink()
            (tmp_path / "slawatch.db").mkdir()  # the file is now a directory: unreadable
            store.close()
            page = samples(scrape_text(served.port))
        finally:
            served.stop()
    assert total(page, "slawatch_store_up") == 0
    assert total(page, "slawatch_build_info") == 1


def test_a_batch_of_rounds_counts_each_once_and_keeps_the_newest_gauges(
    store_url: str, rounds: list[RoundResult]
) -> None:
    # save_rounds (a history load, a spill import) sums a batch per series in one
    # statement: the counters are every round's, the gauges the newest round's even
    # when the batch is not in time order.
    newest, older = sorted(rounds[:2], key=lambda r: r.started_at, reverse=True)
    with ResultStore.open(store_url) as store:
        store.save_rounds([newest, rounds[2], older])
    page, _ = exported(store_url)
    assert total(page, "slawatch_ws_sessions_total", runner="eu-1") == len(newest.sessions) + len(
        older.sessions
    )
    assert total(page, "slawatch_rounds_total", runner="eu-1") == 2
    assert total(page, "slawatch_rounds_total", runner="us-1") == 1
    last = total(page, "slawatch_last_round_timestamp_seconds", runner="eu-1")
    assert last == pytest.approx(newest.started_at.timestamp())
    assert newest.started_at > older.started_at
