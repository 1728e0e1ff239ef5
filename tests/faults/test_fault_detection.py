"""Each fault of the built-in backend shows in the probe's records, and nothing else does.

The backend runs as a real child process per fault set; the probe speaks only
the wire protocol. This is the monitor's promise: every fault a target really
has shows in the records, and no fault it does not have.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from probes.records import RoundResult
from tests.support import probing
from tests.support.backend_process import Backend, start_backends, stop_backends

USERS = 6
FAULTS: dict[str, tuple[str, ...]] = {
    "none": (),
    "close_1011": ("close_1011=1.0",),
    "drop_event": ("drop_event=tool_completed:1.0",),
    "delay_ms": ("delay_ms=agent_started:700",),
    "leak_kb": ("leak_kb=4096",),
    "cross_talk": ("cross_talk=1.0",),
    "strip_auth_header": ("strip_auth_header=true",),
    "db_delay_ms": ("db_delay_ms=300",),
    "reject_rate": ("reject_rate=1.0",),
}


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Backend]]:
    tmp = tmp_path_factory.mktemp("faults")
    started = start_backends(tmp, *FAULTS.values())
    yield dict(zip(FAULTS, started, strict=True))
    stop_backends(started)


def probe_round(backend: Backend, **changes: object) -> RoundResult:
    settings: dict[str, object] = {"users": USERS, "memory_interval_s": 0.05} | changes
    return asyncio.run(probing.probe_round(backend.url, **settings))


def test_without_a_fault_every_session_is_ok(backends: dict[str, Backend]) -> None:
    result = probe_round(backends["none"])
    assert result.status == "passed"
    assert [
        (s.outcome, s.close_code, s.missing_events, s.foreign_events) for s in result.sessions
    ] == [("ok", 1000, (), 0)] * USERS
    assert result.auth_check is not None and result.auth_check.http_status == 401
    assert all(t.ok for t in result.db_timings)


def test_close_1011_fails_every_session_with_1011(backends: dict[str, Backend]) -> None:
    result = probe_round(backends["close_1011"])
    assert {(s.close_code, s.reason, s.outcome) for s in result.sessions} == {
        (1011, "closed_abnormally", "failed")
    }
    assert all("agent_completed" in s.missing_events for s in result.sessions)
    # The database was fine: no run reached its result write, so none is recorded as slow.
    assert [(t.operation, t.ok) for t in result.db_timings] == [
        ("thread_create", True),
        ("message_batch", True),
        ("data_retrieval", True),
    ]


def test_drop_event_shows_exactly_that_event_missing(backends: dict[str, Backend]) -> None:
    result = probe_round(backends["drop_event"])
    assert {s.missing_events for s in result.sessions} == {("tool_completed",)}
    assert {(s.close_code, s.foreign_events, s.reason) for s in result.sessions} == {
        (1000, 0, "incomplete")
    }


def test_delay_ms_shows_as_first_event_latency(backends: dict[str, Backend]) -> None:
    result = probe_round(backends["delay_ms"])
    assert all(s.outcome == "ok" for s in result.sessions)
    # The probe cannot see the first event earlier than the server sent it.
    assert min(s.first_event_ms or 0 for s in result.sessions) >= 700


def test_leak_kb_shows_as_memory_growth(backends: dict[str, Backend]) -> None:
    result = probe_round(backends["leak_kb"], users=10)
    assert all(s.outcome == "ok" for s in result.sessions)
    assert result.memory_source == "healthz"
    assert result.memory_growth_mb is not None
    # 10 runs x 4 MiB retained: RSS grows by at least most of it.
    assert result.memory_growth_mb >= 30


def test_cross_talk_shows_foreign_events_on_the_victims(backends: dict[str, Backend]) -> None:
    result = probe_round(backends["cross_talk"])
    victims = [s for s in result.sessions if s.foreign_events]
    assert victims
    assert {s.reason for s in victims} == {"isolation_breach"}
    assert all(any(e.foreign for e in s.events) for s in victims)


def test_strip_auth_header_refuses_header_sessions_only(backends: dict[str, Backend]) -> None:
    result = probe_round(backends["strip_auth_header"], auth="both", db_check=False)
    by_mode = {
        mode: {(s.http_status, s.outcome) for s in result.sessions if s.auth_mode == mode}
        for mode in ("header", "subprotocol")
    }
    assert by_mode == {"header": {(401, "failed")}, "subprotocol": {(None, "ok")}}


def test_db_delay_shows_in_every_database_timing(backends: dict[str, Backend]) -> None:
    result = probe_round(backends["db_delay_ms"])
    timings = {t.operation: t for t in result.db_timings}
    assert set(timings) == {"thread_create", "message_batch", "result_store", "data_retrieval"}
    assert all(t.ok and t.server_ms is not None and t.server_ms >= 300 for t in timings.values())
    assert all(s.outcome == "ok" for s in result.sessions)


def test_reject_rate_shows_as_refused_with_503(backends: dict[str, Backend]) -> None:
    result = probe_round(backends["reject_rate"])
    assert {(s.http_status, s.reason) for s in result.sessions} == {(503, "refused")}


def test_a_round_of_1000_users_is_complete_and_isolated(tmp_path: Path) -> None:
    [backend] = start_backends(tmp_path, (), extra=("--max-connections", "2000"))
    try:
        result = asyncio.run(
            probing.probe_round(backend.url, users=1000, timeout_s=90.0, session_timeout_s=80.0)
        )
    finally:
        stop_backends([backend])
    assert len(result.sessions) == 1000
    assert len({s.user_id for s in result.sessions}) == 1000
    assert {(s.outcome, s.close_code, s.foreign_events) for s in result.sessions} == {
        ("ok", 1000, 0)
    }
    assert result.status == "passed"
